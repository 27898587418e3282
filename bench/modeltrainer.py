"""Model trainer benchmark: training time and macro F1, predict latency in
process and over HTTP, and switching the active version under load.

    .venv/bin/python -m bench.modeltrainer [--examples 100000] [--json PATH]   # 5 to 7 minutes
    .venv/bin/python -m bench.modeltrainer --quick                                # 20,000 examples, about 2.5 minutes
    .venv/bin/python -m bench.modeltrainer --skip-http                            # training and in-process only

Data: bench.modeltrainer_data, `--examples` distinct (text, label) pairs. The
generator repeats some texts and the store keeps a pair once, so pairs are
drawn until that many are distinct (about 107,000 for 100,000).

1. Training: each configuration runs in a fresh process, as a task worker's
   first training would (Kiwi and its word cache start cold), through the
   service: training.model_version_train(enqueue=False), then
   model_version_run, timed as a whole; the split comes from the progress
   the service reports. The database is a temporary SQLite file, migrated
   and loaded with examples.examples_add. Target: model_version_run < 30 s
   at 100,000 examples. Then both tokenizers at 1,000 (three data seeds)
   and 10,000 examples, with Kiwi loaded before the clock starts.
2. In process: active_model.get().predict([text]) and analysis.log_analyze
   over `--texts` generated texts of another seed, for each version of
   step 1 (Kiwi loaded first; for morphemes also with the word cache
   emptied before each text). Target: predict p50 < 2 ms. Then the whole
   POST /api/model/predict with an API key through Django's WSGI and ASGI
   handlers (the test clients), to tell where the HTTP time goes.
3. HTTP: gunicorn through bench.harness on a fresh database seeded with the
   project's commands (import_training_examples of a .jsonl of the same
   examples, train_model, create_api_key); POST /api/model/predict at
   concurrency 1 and `--concurrency`, /healthz as the floor.
4. Switching: `--threads` keep-alive clients, spread over every server
   worker, predict while versions are activated `--swaps` times through
   POST /api/model/versions/{id}/activate. Targets: no error, and every
   worker serves the new version within MODEL_RELOAD_SECONDS, counted from
   the activation's answer, plus SWITCH_GRACE_S: a worker notices at its
   next poll, then loads the file while answering the request in hand.
"""

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import random
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from bench.harness import PYTHON, ROOT, _box_cpu_seconds, _children, _percentile, load, print_table, start_server
from bench.modeltrainer_data import examples as generated

TRAIN_TARGET_S = 30.0
PREDICT_P50_TARGET_MS = 2.0
RELOAD_S = float(os.environ.get("MODEL_RELOAD_SECONDS", "1.0"))
DATA_SEED = 7
PREDICT_SEED = 2026
FULL_CONFIGS = (("logistic_regression", "morpheme"), ("logistic_regression", "char"), ("complement_nb", "morpheme"))
SMALL_SIZES = {1000: (7, 8, 9), 10_000: (7,)}
QUICK_SMALL_SIZES = {1000: (7,), 10_000: (7,)}
STEP_TIMEOUT_S = 900
SWITCH_TIMEOUT_S = 15.0
SWITCH_GRACE_S = 0.5
SETTLE_S = 0.5
DISTURBED_CORES = 0.2


def distinct_examples(n: int, *, seed: int = DATA_SEED) -> tuple[list[tuple[str, str]], int]:
    """The first n distinct (text, label) pairs of the generator, and how many it drew to get them."""
    drawn = n
    while True:
        drawn = int(drawn * 1.5)
        seen: dict[tuple[str, str], None] = {}
        for index, pair in enumerate(generated(drawn, seed=seed), start=1):
            seen.setdefault(pair, None)
            if len(seen) == n:
                return list(seen), index


def _ms(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(_percentile(ordered, 0.5) * 1000, 3),
        "p90_ms": round(_percentile(ordered, 0.9) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


def _timed(call, values, before=None) -> list[float]:
    out = []
    for value in values:
        if before is not None:
            before()
        started = time.perf_counter()
        call(value)
        out.append(time.perf_counter() - started)
    return out


# --- Steps: each in its own process, against one database ------------------------


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiplatform.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_READ_DOTENV", "false")  # a developer's .env must not change what is measured
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def step_prepare(spec: dict) -> dict:
    from django.core.management import call_command

    from modeltrainer.choices import ExampleSource
    from modeltrainer.services import examples

    call_command("migrate", verbosity=0, interactive=False)
    pairs, drawn = distinct_examples(spec["n"], seed=spec["seed"])
    rows = list(enumerate(({"text": text, "label": label} for text, label in pairs), start=1))
    started = time.perf_counter()
    report = examples.examples_add(rows=rows, source=ExampleSource.COMMAND)
    return {
        "examples": spec["n"],
        "drawn": drawn,
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "rejected": len(report.rejected),
        "load_s": round(time.perf_counter() - started, 2),
    }


def step_train(spec: dict) -> dict:
    from aiplatform import text
    from modeltrainer import artifacts
    from modeltrainer.choices import Trigger
    from modeltrainer.services import training

    kiwi_s = None
    if spec["warm"]:
        started = time.perf_counter()
        # Kiwi finishes loading on its first analysis: a word of no example, so that the word cache stays cold.
        text.kiwi().tokenize("준비")
        kiwi_s = round(time.perf_counter() - started, 2)
    version, _created = training.model_version_train(
        trigger=Trigger.COMMAND,
        algorithm=spec["algorithm"],
        tokenizer=spec["tokenizer"],
        activate=False,
        enqueue=False,
    )
    stamps: dict[str, float] = {}
    started = time.perf_counter()
    version = training.model_version_run(
        version_id=version.pk, progress=lambda percent, stage: stamps.setdefault(stage, time.perf_counter())
    )
    wall = time.perf_counter() - started
    if version.status != "ready":
        raise RuntimeError(f"v{version.number} {version.status}: {version.error}")
    stages = ("vectorizing", "fitting", "evaluating", "saving", "ready")
    marks = [started, *(stamps[stage] for stage in stages)]
    pipeline = artifacts.artifact_load(version.artifact, sha256=version.artifact_sha256)["pipeline"]
    model = pipeline.named_steps["model"]
    return {
        "id": version.pk,
        "number": version.number,
        "algorithm": version.algorithm,
        "tokenizer": version.tokenizer,
        "wall_s": round(wall, 2),
        "duration_s": version.duration_s,
        # Each part ends where the service reports the next stage.
        "split_s": {
            name: round(marks[i + 1] - marks[i], 2)
            for i, name in enumerate(("load", "vectorize", "fit", "evaluate", "save"))
        },
        "kiwi_load_s": kiwi_s,
        "macro_f1": version.metrics["macro_f1"],
        "accuracy": version.metrics["accuracy"],
        "notes": version.metrics.get("notes", []),
        "train_count": version.train_count,
        "test_count": version.test_count,
        "features": len(pipeline.named_steps["vectorizer"].vocabulary_),
        "solver_iterations": int(max(model.n_iter_)) if hasattr(model, "n_iter_") else None,
        "artifact_bytes": version.artifact_size,
    }


def step_predict(spec: dict) -> dict:
    from aiplatform import text
    from modeltrainer.models import ModelVersion
    from modeltrainer.predictor import active_model
    from modeltrainer.services import analysis, versions

    texts = [value for value, _label in generated(spec["texts"], seed=PREDICT_SEED)]

    started = time.perf_counter()
    text.kiwi().tokenize("준비")
    kiwi_s = time.perf_counter() - started
    results = []
    for version_id in spec["versions"]:
        version = versions.model_version_activate(version=ModelVersion.objects.get(pk=version_id))
        active_model.forget()
        started = time.perf_counter()
        active_model.get()
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        analysis.log_analyze(text=texts[0])  # the first explanation builds the feature names
        first_analyze_s = time.perf_counter() - started
        _timed(lambda value: active_model.get().predict([value]), texts[:50])
        row = {
            "number": version.number,
            "algorithm": version.algorithm,
            "tokenizer": version.tokenizer,
            "load_s": round(load_s, 3),
            "first_analyze_s": round(first_analyze_s, 3),
            "predict": _ms(_timed(lambda value: active_model.get().predict([value]), texts)),
            "analyze": _ms(_timed(lambda value: analysis.log_analyze(text=value), texts)),
            "sample": {
                "text": spec["sample"],
                **{
                    key: value
                    for key, value in analysis.log_analyze(text=spec["sample"], lang="en").items()
                    if key in ("prediction", "confidence", "terms")
                },
            },
        }
        if version.tokenizer == "morpheme":
            # Words never seen by this process: each one goes through Kiwi (real logs have an open vocabulary).
            cold = texts[: max(100, len(texts) // 4)]
            row["predict_unseen_words"] = _ms(
                _timed(lambda value: active_model.get().predict([value]), cold, before=text._word_morphemes.cache_clear)
            )
            _timed(text.morpheme_tokens, texts)  # the next version starts with the word cache full again
        results.append(row)
    versions.model_version_activate(version=ModelVersion.objects.get(pk=spec["versions"][0]))
    active_model.forget()
    return {
        "texts": len(texts),
        "kiwi_load_s": round(kiwi_s, 2),
        "versions": results,
        "request": _request_in_process([json.dumps({"text": value}) for value in texts[:500]]),
    }


def _request_in_process(bodies: list[str]) -> dict:
    """The whole POST /api/model/predict with an API key, in process: through Django's WSGI handler and
    through its ASGI handler (no socket, no uvicorn), to tell where the HTTP figure goes."""
    import asyncio
    import io

    from django.conf import settings
    from django.core.management import call_command
    from django.test import AsyncClient, Client, override_settings

    out = io.StringIO()
    call_command("create_api_key", "--name", "bench", "--scope", "service", stdout=out, stderr=io.StringIO())
    headers = {"Authorization": f"Api-Key {out.getvalue().strip()}"}
    client = Client(headers=headers)

    def post(body: str) -> None:
        response = client.post("/api/model/predict", body, content_type="application/json")
        if response.status_code != 200:
            raise RuntimeError(f"predict answered {response.status_code}: {response.content[:300]!r}")

    async def asgi() -> list[float]:
        client = AsyncClient()  # it keeps no default headers: they go with each request
        out = []
        for i, body in enumerate([*bodies[:20], *bodies]):
            started = time.perf_counter()
            response = await client.post("/api/model/predict", body, content_type="application/json", headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"predict answered {response.status_code}")
            if i >= 20:
                out.append(time.perf_counter() - started)
        return out

    with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
        return {"wsgi": _ms(_timed(post, bodies[:20] + bodies)[20:]), "asgi": _ms(asyncio.run(asgi()))}


STEPS = {"prepare": step_prepare, "train": step_train, "predict": step_predict}


def run_step(step: str, spec: dict, *, workdir: Path, db: str) -> dict:
    """Run one step in a fresh process on the database `db` (a SQLite file in workdir) and return its figures."""
    out = workdir / f"{db}-{step}-{secrets.token_hex(4)}.json"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / f'{db}.sqlite3'}",
        "MODEL_STORAGE_DIR": str(workdir / f"models-{db}"),
        "DJANGO_READ_DOTENV": "false",
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    command = [str(PYTHON), "-m", "bench.modeltrainer", "--step", step, "--spec", json.dumps(spec), "--out", str(out)]
    started, box_at = time.perf_counter(), _box_cpu_seconds()
    children_at = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout + completed.stderr)
        raise RuntimeError(f"step {step} {spec} exited with {completed.returncode}")
    wall, box = time.perf_counter() - started, _box_cpu_seconds()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    step_cpu = children.ru_utime + children.ru_stime - children_at.ru_utime - children_at.ru_stime
    result = json.loads(out.read_text())
    # Cores busy with anything but this step while it ran: other work on the box disturbs the times.
    result["other_cpu"] = None if box is None or box_at is None else round(max(0.0, box - box_at - step_cpu) / wall, 2)
    return result


# --- HTTP ----------------------------------------------------------------------


def _request(base_url: str, method: str, path: str, headers: dict, body: dict | None = None) -> tuple[int, object]:
    port = int(base_url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body)
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        conn.close()


def _socket_owner(worker_pids: list[int], client_port: int, server_port: int) -> int | None:
    """The server worker holding the accepted end of a local connection (from /proc, Linux only)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, remote = fields[1], fields[2]
                if int(local.rsplit(":", 1)[1], 16) == server_port and int(remote.rsplit(":", 1)[1], 16) == client_port:
                    inode = fields[9]
    if inode is None:
        return None
    for pid in worker_pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return pid
    return None


@dataclass
class _Client:
    conn: http.client.HTTPConnection
    worker: int | None
    served: list[tuple[float, float, int | None, str]] = field(default_factory=list)  # began, done, version, error


def _open_clients(server, count: int) -> list[_Client]:
    """`count` keep-alive connections (a few more if needed) such that every worker holds at least one."""
    port = int(server.base_url.rsplit(":", 1)[1])
    workers = _children(server.process.pid)
    clients: list[_Client] = []
    for _attempt in range(count * 6):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/healthz", headers={"Host": "127.0.0.1"})
        conn.getresponse().read()
        clients.append(_Client(conn, _socket_owner(workers, conn.sock.getsockname()[1], port)))
        per_worker = {pid: sum(1 for c in clients if c.worker == pid) for pid in workers}
        if len(clients) >= count and all(per_worker.values()):
            break
    while len(clients) > count:
        # Drop a connection of the busiest worker, never a worker's only one.
        busiest = max(per_worker, key=per_worker.get)
        if per_worker[busiest] < 2:
            break
        extra = next(c for c in clients if c.worker == busiest)
        extra.conn.close()
        clients.remove(extra)
        per_worker[busiest] -= 1
    return clients


def hot_swap(server, headers: dict, ids: dict[int, int], active: int, *, threads: int, swaps: int, texts) -> dict:
    """Predict from every client while activating the versions in turn; see the module docstring."""
    clients = _open_clients(server, threads)
    workers = sorted({c.worker for c in clients if c.worker is not None})
    stop = threading.Event()
    auth = {"Host": "127.0.0.1", "Content-Type": "application/json", **headers}

    def predict(client: _Client, offset: int) -> None:
        index = offset
        while not stop.is_set():
            body = json.dumps({"text": texts[index % len(texts)]})
            index += 1
            began = time.perf_counter()
            try:
                client.conn.request("POST", "/api/model/predict", body=body, headers=auth)
                response = client.conn.getresponse()
                data = response.read()
                ok = response.status == 200
                version, error = (json.loads(data)["version"], "") if ok else (None, str(response.status))
            except (OSError, http.client.HTTPException, ValueError) as exc:
                version, error = None, type(exc).__name__
                client.conn.close()  # the next request reconnects (perhaps to another worker)
                time.sleep(0.01)
            client.served.append((began, time.perf_counter(), version, error))

    pool = [threading.Thread(target=predict, args=(c, i * 97), daemon=True) for i, c in enumerate(clients)]
    for thread in pool:
        thread.start()
    time.sleep(2.0)
    numbers = sorted(ids)
    rng = random.Random(PREDICT_SEED)
    rounds = []
    for _swap in range(swaps):
        target = numbers[(numbers.index(active) + 1) % len(numbers)]
        sent = time.perf_counter()
        status, _body = _request(server.base_url, "POST", f"/api/model/versions/{ids[target]}/activate", headers)
        answered = time.perf_counter()
        first_new: dict[int, float] = {}
        deadline = answered + SWITCH_TIMEOUT_S
        while len(first_new) < len(clients) and time.perf_counter() < deadline:
            time.sleep(0.02)
            for i, client in enumerate(clients):
                if i not in first_new:
                    done = next((d for b, d, v, _e in list(client.served) if d > sent and v == target), None)
                    if done is not None:
                        first_new[i] = done
        # A random pause before the next activation, so that it falls anywhere in the workers' poll period.
        time.sleep(SETTLE_S + rng.uniform(0, RELOAD_S))
        # A client that answers the old version again after the new one: a flip back.
        flips = sum(
            1
            for i, client in enumerate(clients)
            if i in first_new
            for b, d, v, _e in list(client.served)
            if d > first_new[i] and v is not None and v != target
        )
        lag = {i: max(0.0, at - answered) for i, at in first_new.items()}
        by_worker = {
            w: min((lag[i] for i, c in enumerate(clients) if c.worker == w and i in lag), default=None) for w in workers
        }
        # The slowest prediction answered from the activation until the last client switched.
        until = max(first_new.values(), default=time.perf_counter())
        slowest = max((d - b for c in clients for b, d, _v, _e in list(c.served) if sent <= d <= until), default=0.0)
        rounds.append(
            {
                "from": active,
                "to": target,
                "status": status,
                "activate_ms": round((answered - sent) * 1000, 1),
                "switched_clients": len(first_new),
                "every_worker_s": None if None in by_worker.values() else round(max(by_worker.values()), 3),
                "every_client_s": round(max(lag.values()), 3) if len(lag) == len(clients) else None,
                "flips": flips,
                "slowest_ms": round(slowest * 1000, 1),
            }
        )
        active = target
    stop.set()
    for thread in pool:
        thread.join(timeout=35)
    served = [row for client in clients for row in client.served]
    errors: dict[str, int] = {}
    per_version: dict[int, int] = {}
    for _b, _d, version, error in served:
        if error:
            errors[error] = errors.get(error, 0) + 1
        else:
            per_version[version] = per_version.get(version, 0) + 1
    for client in clients:
        client.conn.close()
    latencies = sorted(d - b for b, d, v, e in served if not e)
    return {
        "clients": len(clients),
        "clients_per_worker": {str(w): sum(1 for c in clients if c.worker == w) for w in workers},
        "workers": server.workers,
        "requests": len(served),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "per_version": {str(number): count for number, count in sorted(per_version.items())},
        "latency": _ms(latencies) | {"p99_ms": round(_percentile(latencies, 0.99) * 1000, 3)},
        "rounds": rounds,
        "final_active": active,
    }


def http_phase(args, workdir: Path, sample: str, texts: list[str]) -> dict:
    pairs, _drawn = distinct_examples(args.examples)
    jsonl = workdir / "examples.jsonl"
    with jsonl.open("w", encoding="utf-8") as handle:
        for value, label in pairs:
            handle.write(json.dumps({"text": value, "label": label}, ensure_ascii=False) + "\n")
    env = {"MODEL_STORAGE_DIR": str(workdir / "models-http")}
    facts: dict = {"workers": args.workers}
    with start_server(env=env, workers=args.workers) as server:
        seed_s = {}
        for name, command in (
            ("import_training_examples", ("import_training_examples", str(jsonl))),
            ("train_model --activate", ("train_model", "--activate")),
            ("train_model --algorithm complement_nb", ("train_model", "--algorithm", "complement_nb")),
            (
                "train_model --algorithm complement_nb --tokenizer char",
                ("train_model", "--algorithm", "complement_nb", "--tokenizer", "char"),
            ),
        ):
            started = time.perf_counter()
            output = server.manage(*command).strip().splitlines()[-1]
            seed_s[name] = round(time.perf_counter() - started, 1)
            print(f"  {name}: {output} ({seed_s[name]} s)", flush=True)
        facts["seed_s"] = seed_s
        server.manage("ensure_admin", "--username", "bench")
        key = server.manage(
            "create_api_key", "--name", "bench", "--scope", "service", "--scope", "model:train", "--owner", "bench"
        ).strip()
        headers = {"Authorization": f"Api-Key {key}"}
        _status, listing = _request(server.base_url, "GET", "/api/model/versions/?limit=100", headers)
        rows = listing["results"] if isinstance(listing, dict) else listing
        ids = {row["number"]: row["id"] for row in rows if row["status"] == "ready"}
        active = next(row["number"] for row in rows if row["active"])
        predict_body = json.dumps({"text": sample})
        # Every worker loads Kiwi and the model before anything is measured: all at once, as a
        # connection left idle for the server's keep-alive (5 s) while another loads would be closed.
        auth = {"Host": "127.0.0.1", "Content-Type": "application/json", **headers}

        def warm(client: _Client) -> None:
            for _ in range(3):
                client.conn.request("POST", "/api/model/predict", body=predict_body, headers=auth)
                client.conn.getresponse().read()
            client.conn.close()

        warming = [threading.Thread(target=warm, args=(c,)) for c in _open_clients(server, args.workers * 2)]
        for thread in warming:
            thread.start()
        for thread in warming:
            thread.join()
        duration = args.duration
        results = [
            load(f"{server.base_url}/healthz", concurrency=1, duration=duration, name="healthz c=1", server=server),
            load(
                f"{server.base_url}/healthz",
                concurrency=args.concurrency,
                duration=duration,
                name=f"healthz c={args.concurrency}",
                server=server,
            ),
        ]
        for concurrency in (1, args.concurrency):
            results.append(
                load(
                    f"{server.base_url}/api/model/predict",
                    method="POST",
                    body=predict_body,
                    headers=headers,
                    concurrency=concurrency,
                    duration=duration,
                    name=f"predict c={concurrency}",
                    server=server,
                )
            )
        results.append(
            load(
                f"{server.base_url}/api/model/analyze-log",
                method="POST",
                body=predict_body,
                headers=headers,
                concurrency=1,
                duration=duration,
                name="analyze-log c=1",
                server=server,
            )
        )
        print_table([result.row() for result in results])
        facts["load"] = [vars(result) | {"server_cpu_ms": result.server_cpu_ms} for result in results]
        print(f"switching: {args.swaps} activations of v{sorted(ids)} with {args.threads} clients", flush=True)
        swap = hot_swap(server, headers, ids, active, threads=args.threads, swaps=args.swaps, texts=texts)
        facts["hot_swap"] = swap
    print_table(
        [
            {
                "activation": f"v{r['from']} -> v{r['to']}",
                "status": str(r["status"]),
                "activate ms": f"{r['activate_ms']:.0f}",
                "every worker s": "never" if r["every_worker_s"] is None else f"{r['every_worker_s']:.2f}",
                "every client s": "never" if r["every_client_s"] is None else f"{r['every_client_s']:.2f}",
                "flips back": str(r["flips"]),
                "slowest prediction ms": f"{r['slowest_ms']:.0f}",
            }
            for r in swap["rounds"]
        ]
    )
    latency = swap["latency"]
    print(
        f"  {swap['requests']} predictions from {swap['clients']} clients {swap['clients_per_worker']} (worker pid: "
        f"clients), {swap['errors']} errors {swap['error_kinds']}, per version {swap['per_version']}; latency p50 "
        f"{latency['p50_ms']:.1f} ms, p99 {latency['p99_ms']:.1f} ms, max {latency['max_ms']:.1f} ms"
    )
    return facts


# --- The run -------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, help="distinct examples (default 100000, quick 20000)")
    parser.add_argument("--texts", type=int, help="texts for in-process latency (default 2000, quick 500)")
    parser.add_argument("--duration", type=float, help="seconds per HTTP load (default 10, quick 3)")
    parser.add_argument("--concurrency", type=int, default=4, help="the second HTTP concurrency (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="server workers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="clients while switching versions (default 4)")
    parser.add_argument("--swaps", type=int, help="activations while under load (default 10, quick 5)")
    parser.add_argument("--quick", action="store_true", help="smaller defaults and one data seed per small set")
    parser.add_argument("--skip-http", action="store_true", help="no server: training and in-process only")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        _django()
        args.out.write_text(json.dumps(STEPS[args.step](json.loads(args.spec))))
        return
    defaults = (20_000, 500, 3.0, 5) if args.quick else (100_000, 2000, 10.0, 10)
    for name, default in zip(("examples", "texts", "duration", "swaps"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    small_sizes = QUICK_SMALL_SIZES if args.quick else SMALL_SIZES
    began = time.perf_counter()
    report: dict = {
        "date": dt.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
        "packages": {name: metadata.version(name) for name in ("Django", "scikit-learn", "kiwipiepy", "numpy")},
        "arguments": {k: str(v) for k, v in vars(args).items() if k not in ("step", "spec", "out")},
    }
    texts = [value for value, _label in generated(args.texts, seed=PREDICT_SEED)]
    sample = sorted(texts[:201], key=len)[100]  # a text of median length, for HTTP and the sample terms
    with tempfile.TemporaryDirectory(prefix="modeltrainer-bench-") as tmp:
        workdir = Path(tmp)
        print(f"loading {args.examples:,} distinct examples (examples_add) ...", flush=True)
        report["prepare"] = run_step("prepare", {"n": args.examples, "seed": DATA_SEED}, workdir=workdir, db="full")
        prepared = report["prepare"]
        print(f"  {prepared['accepted']:,} stored (from {prepared['drawn']:,} drawn) in {prepared['load_s']} s")

        trained = []
        for algorithm, tokenizer in FULL_CONFIGS:
            print(f"training {algorithm} / {tokenizer} on {args.examples:,} ...", flush=True)
            spec = {"algorithm": algorithm, "tokenizer": tokenizer, "warm": False}
            trained.append(run_step("train", spec, workdir=workdir, db="full"))
        report["train"] = trained
        print_table([_train_row(row, args.examples) for row in trained])

        small = []
        for size, seeds in small_sizes.items():
            for seed in seeds:
                db = f"small-{size}-{seed}"
                run_step("prepare", {"n": size, "seed": seed}, workdir=workdir, db=db)
                for tokenizer in ("morpheme", "char"):
                    spec = {"algorithm": "logistic_regression", "tokenizer": tokenizer, "warm": True}
                    small.append({"examples": size, "seed": seed, **run_step("train", spec, workdir=workdir, db=db)})
        report["small"] = small
        kiwi = statistics.median(row["kiwi_load_s"] for row in small)
        print(f"tokenizers on small sets (logistic_regression; Kiwi loaded first, {kiwi:.1f} s, not counted):")
        print_table(_small_rows(small))

        print(f"predict in process over {args.texts} texts ...", flush=True)
        spec = {"versions": [row["id"] for row in trained], "texts": args.texts, "sample": sample}
        report["in_process"] = run_step("predict", spec, workdir=workdir, db="full")
        print(f"  Kiwi loaded first ({report['in_process']['kiwi_load_s']:.1f} s); p50 and p90 in ms")
        print_table([_predict_row(row) for row in report["in_process"]["versions"]])
        request = report["in_process"]["request"]
        print(
            f"  whole POST /api/model/predict in process (v1, API key): WSGI handler p50 "
            f"{request['wsgi']['p50_ms']:.2f} ms, ASGI handler p50 {request['asgi']['p50_ms']:.2f} ms"
        )
        for row in report["in_process"]["versions"]:
            terms = ", ".join(f"{t['term']!r}" for t in row["sample"]["terms"][:5])
            print(f"  v{row['number']} {row['tokenizer']}: {row['sample']['prediction']} <- {terms}")

        if not args.skip_http:
            print(f"HTTP: seeding a server with {args.examples:,} examples through the commands ...", flush=True)
            report["http"] = http_phase(args, workdir, sample, texts)
    report["wall_s"] = round(time.perf_counter() - began, 1)
    summary = _summary(report)
    print()
    print_table(summary)
    report["summary"] = summary
    report["other_cpu_max"] = _other_cpu(report)
    print(f"whole run: {report['wall_s']} s; other work on the box: up to {report['other_cpu_max']:.2f} core")
    if report["other_cpu_max"] > DISTURBED_CORES:
        print("  other processes took more than a few percent of the box: times in this run may be inflated")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))


def _train_row(row: dict, examples: int) -> dict:
    split = row["split_s"]
    return {
        "version": f"{row['algorithm']} / {row['tokenizer']}",
        "examples": f"{examples:,}",
        "run s": f"{row['wall_s']:.1f}",
        "load": f"{split['load']:.1f}",
        "vectorize": f"{split['vectorize']:.1f}",
        "fit": f"{split['fit']:.1f}",
        "evaluate": f"{split['evaluate']:.1f}",
        "save": f"{split['save']:.1f}",
        "macro F1": f"{row['macro_f1']:.4f}",
        "features": f"{row['features']:,}",
        "iterations": str(row["solver_iterations"] or "-"),
        "file KB": f"{row['artifact_bytes'] / 1024:.0f}",
        "other CPU": f"{row['other_cpu']:.2f}",
    }


def _small_rows(small: list[dict]) -> list[dict]:
    rows = []
    for size in sorted({row["examples"] for row in small}):
        for tokenizer in ("morpheme", "char"):
            runs = [row for row in small if row["examples"] == size and row["tokenizer"] == tokenizer]
            f1 = [row["macro_f1"] for row in runs]
            rows.append(
                {
                    "examples": f"{size:,}",
                    "tokenizer": tokenizer,
                    "seeds": str(len(runs)),
                    "macro F1 mean": f"{statistics.mean(f1):.4f}",
                    "macro F1 each": " ".join(f"{value:.3f}" for value in f1),
                    "run s mean": f"{statistics.mean(row['wall_s'] for row in runs):.2f}",
                    "features": f"{statistics.mean(row['features'] for row in runs):,.0f}",
                    "other CPU": f"{max(row['other_cpu'] for row in runs):.2f}",
                }
            )
    return rows


def _predict_row(row: dict) -> dict:
    unseen = row.get("predict_unseen_words")
    return {
        "version": f"v{row['number']} {row['algorithm']} / {row['tokenizer']}",
        "load s": f"{row['load_s']:.2f}",
        "predict p50": f"{row['predict']['p50_ms']:.2f}",
        "predict p90": f"{row['predict']['p90_ms']:.2f}",
        "unseen words p50": f"{unseen['p50_ms']:.2f}" if unseen else "-",
        "analyze p50": f"{row['analyze']['p50_ms']:.2f}",
        "analyze p90": f"{row['analyze']['p90_ms']:.2f}",
        "first analyze s": f"{row['first_analyze_s']:.2f}",
    }


def _other_cpu(report: dict) -> float:
    """The most CPU, in cores, that other processes took during any step or HTTP load of the run."""
    steps = [report["prepare"], *report["train"], *report["small"], report["in_process"]]
    loads = report.get("http", {}).get("load", [])
    others = [step["other_cpu"] or 0.0 for step in steps]
    others += [max(0.0, r["box_cpu"] - r["client_cpu"] - r["server_cpu"]) for r in loads if r["box_cpu"] is not None]
    return round(max(others), 2)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _summary(report: dict) -> list[dict]:
    rows = []
    for row in report["train"]:
        rows.append(
            {
                "figure": f"train {row['algorithm']} / {row['tokenizer']}: model_version_run",
                "value": f"{row['wall_s']:.1f} s (macro F1 {row['macro_f1']:.4f})",
                "target": f"< {TRAIN_TARGET_S:.0f} s",
                "verdict": _verdict(row["wall_s"] < TRAIN_TARGET_S),
            }
        )
    for row in report["in_process"]["versions"]:
        rows.append(
            {
                "figure": f"predict in process, v{row['number']} {row['algorithm']} / {row['tokenizer']}: p50",
                "value": f"{row['predict']['p50_ms']:.2f} ms",
                "target": f"< {PREDICT_P50_TARGET_MS:.0f} ms",
                "verdict": _verdict(row["predict"]["p50_ms"] < PREDICT_P50_TARGET_MS),
            }
        )
    http = report.get("http")
    if http:
        by_name = {row["name"]: row for row in http["load"]}
        in_process = report["in_process"]["versions"][0]["predict"]["p50_ms"]
        api = by_name["predict c=1"]["p50_ms"]
        rows.append(
            {
                "figure": "predict over HTTP c=1 / in process (p50)",
                "value": f"{api:.2f} / {in_process:.2f} ms = {api / in_process:.1f}x",
                "target": "-",
                "verdict": "-",
            }
        )
        swap = http["hot_swap"]
        lags = [r["every_worker_s"] for r in swap["rounds"]]
        worst = None if None in lags else max(lags)
        rows.append(
            {
                "figure": f"switching: errors in {swap['requests']} predictions",
                "value": str(swap["errors"]),
                "target": "0",
                "verdict": _verdict(swap["errors"] == 0),
            }
        )
        rows.append(
            {
                "figure": f"switching: every worker on the new version, worst of {len(lags)}",
                "value": "never" if worst is None else f"{worst:.2f} s",
                "target": f"<= {RELOAD_S:g} + {SWITCH_GRACE_S:g} s",
                "verdict": _verdict(worst is not None and worst <= RELOAD_S + SWITCH_GRACE_S),
            }
        )
    return rows


if __name__ == "__main__":
    main()
