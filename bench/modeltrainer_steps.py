"""The steps of the modeltrainer benchmark, each run in a fresh process against one SQLite
database: loading the examples, training one version, predicting in process.

`run_step` starts `python -m bench.modeltrainer --step NAME`, which sets Django up
and calls the step; nothing here imports Django at module level.
"""

import json
import os
import resource
import secrets
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import PYTHON, ROOT, _box_cpu_seconds, _percentile
from modeltrainer.synthetic import examples as generated

DATA_SEED = 7
PREDICT_SEED = 2026
STEP_TIMEOUT_S = 900


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
