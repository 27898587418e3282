"""Model trainer benchmark: training time and macro F1, predict latency in
process and over HTTP, and switching the active version under load.

    .venv/bin/python -m bench.modeltrainer [--examples 100000] [--json PATH]   # 5 to 7 minutes
    .venv/bin/python -m bench.modeltrainer --quick                                # 20,000 examples, about 2.5 minutes
    .venv/bin/python -m bench.modeltrainer --skip-http                            # training and in-process only

Data: modeltrainer.synthetic, `--examples` distinct (text, label) pairs. The
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

The steps (each in its own process, `--step`) are in bench.modeltrainer_steps,
the server, the loads and the switching in bench.modeltrainer_http; this module
runs them in turn and prints the tables and the summary.
"""

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import tempfile
import time
from importlib import metadata
from pathlib import Path

from bench.harness import print_table
from bench.modeltrainer_http import RELOAD_S, SWITCH_GRACE_S, http_phase
from bench.modeltrainer_steps import DATA_SEED, PREDICT_SEED, STEPS, _django, run_step
from modeltrainer.synthetic import examples as generated

TRAIN_TARGET_S = 30.0
PREDICT_P50_TARGET_MS = 2.0
FULL_CONFIGS = (("logistic_regression", "morpheme"), ("logistic_regression", "char"), ("complement_nb", "morpheme"))
SMALL_SIZES = {1000: (7, 8, 9), 10_000: (7,)}
QUICK_SMALL_SIZES = {1000: (7,), 10_000: (7,)}
DISTURBED_CORES = 0.2


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
