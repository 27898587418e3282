"""The HTTP half of the modeltrainer benchmark: a gunicorn server (bench.harness) seeded
through the project's commands, predict under load, and switching the active version
while keep-alive clients on every server worker keep predicting.
"""

import contextlib
import http.client
import json
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import _children, _percentile, load, print_table, start_server
from bench.modeltrainer_steps import PREDICT_SEED, _ms, distinct_examples

RELOAD_S = float(os.environ.get("MODEL_RELOAD_SECONDS", "1.0"))
SWITCH_TIMEOUT_S = 15.0
SWITCH_GRACE_S = 0.5
SETTLE_S = 0.5


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
            # Not activated: training by default activates a version that is not worse.
            (
                "train_model --no-activate --algorithm complement_nb",
                ("train_model", "--no-activate", "--algorithm", "complement_nb"),
            ),
            (
                "train_model --no-activate --algorithm complement_nb --tokenizer char",
                ("train_model", "--no-activate", "--algorithm", "complement_nb", "--tokenizer", "char"),
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
