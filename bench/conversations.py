"""Conversations benchmark: log list, stats, full-text search and RAG overhead on a million logs.

    .venv/bin/python -m bench.conversations --db sqlite|mysql [--logs 1000000] [--quick] [--json PATH]
    .venv/bin/python -m bench.conversations --db mysql --explain search-common  # each SQL of a case: time, plan
    .venv/bin/python -m bench.conversations --db mysql --drop      # remove the bench database and exit

The first run creates the database (bench/out/conversations-<n>.sqlite3 or
MariaDB `aiplatform_bench`; another size gets its own), loads the synthetic
logs (bench.conversations_data) and a 10,000-chunk knowledge base
(bench.conversations_rag), and keeps them: later runs reuse them. Each case
is timed in-process (a DRF request through the real view, rendered to JSON,
on a warm database connection; bench.conversations_measure) and over HTTP
(gunicorn on the same database through bench.harness; bench.conversations_http).
Targets: the log page's ORM query within 1.5x of the same SQL through the
DB-API cursor, stats p50 < 150 ms, full-text search p50 < 100 ms, RAG
overhead (request minus provider) p50 < 15 ms.
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bench.conversations_db import FULL_LOGS, OUT, BenchDatabase, mysql_variables
from bench.conversations_text import conversation_pool
from bench.harness import print_table

QUICK_LOGS = 50_000
KB_CHUNKS = 10_000


# --- The run ------------------------------------------------------------------


def django_setup(db: BenchDatabase) -> None:
    os.environ.update(db.environ())
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-conversations")
    os.environ["DJANGO_SETTINGS_MODULE"] = "aiplatform.settings"
    import django

    django.setup()


def migrate() -> list[str]:
    """Apply the migrations; returns those of the conversations app that were applied."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    call_command("migrate", verbosity=0, interactive=False)
    return [migration.name for migration, _backwards in plan if migration.app_label == "conversations"]


def prepare(db: BenchDatabase, logs: int, kb_chunks: int) -> dict:
    """The loaded database: reused when it holds the wanted logs, else recreated and loaded."""
    from django.db import connection

    from bench import conversations_data as data
    from bench import conversations_rag as rag

    facts: dict = {"database": db.label, "code": code_version()}
    applied = migrate()
    leftovers = rag.rag_logs_clean()
    if leftovers:
        print(f"removed {leftovers} logs left by an interrupted RAG run")
    if rag.logs_loaded(logs):
        print(f"reusing {db.label}: {logs:,} logs already loaded")
        facts["load"] = "reused"
        if applied:
            # A new rollup column or table may start empty: count the loaded logs in it.
            from conversations.rollups import rollups_rebuild

            started = time.perf_counter()
            rollups_rebuild()
            print(
                f"  migrations {', '.join(applied)} applied: rollups rebuilt in {time.perf_counter() - started:.1f} s"
            )
    else:
        from conversations.models import ConversationLog

        if ConversationLog.objects.exists():
            print(f"{db.label} holds other data: recreating it")
            connection.close()
            db.drop()
            db.create()
            migrate()
        print(f"loading {logs:,} logs into {db.label} ...", flush=True)
        pool, analyse_s = data.build_pool()
        print(f"  analysed {len(pool):,} distinct question/answer pairs (x3 variants) in {analyse_s:.1f} s")
        report = data.logs_load(logs, pool, analyse_s)
        print(
            f"  load: {report.total_s:.1f} s (analyse {report.analyse_s:.1f}, draw {report.draw_s:.1f}, "
            f"insert {report.insert_s:.1f} = {logs / report.insert_s:,.0f} rows/s, rollups {report.rollups_s:.1f})"
        )
        facts["load"] = asdict(report) | {"total_s": report.total_s}
    kb = rag.knowledge_base_ensure(kb_chunks)
    if kb.built:
        print(f"  knowledge base: {kb.documents:,} documents, {kb.chunks:,} chunks indexed in {kb.index_s:.1f} s")
    facts["knowledge_base"] = asdict(kb)
    facts["size_bytes"] = db.size_bytes()
    return facts


def code_version() -> str:
    """The commit measured, and whether the app's files differ from it (others edit them meanwhile)."""
    from bench.harness import ROOT

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    dirty = git("status", "--porcelain", "--", "conversations", "aiplatform")
    return git("rev-parse", "--short", "HEAD") + (
        " + uncommitted changes in conversations/ or aiplatform/" if dirty else ""
    )


def verdict(value: float | None, target: float | None) -> str:
    if value is None or target is None:
        return "-"
    return "PASS" if value < target else "FAIL"


def fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "mysql"], required=True)
    parser.add_argument("--logs", type=int, help=f"logs to load (default {FULL_LOGS:,}; {QUICK_LOGS:,} with --quick)")
    parser.add_argument("--quick", action="store_true", help="50k logs, fewer rounds, 2 s HTTP loads")
    parser.add_argument("--iterations", type=int, help="in-process rounds per case (default 60; 20 with --quick)")
    parser.add_argument("--max-seconds", type=float, help="in-process seconds per case at most (default 12; 4)")
    parser.add_argument("--http-duration", type=float, help="measured seconds per HTTP load (default 5; 2)")
    parser.add_argument("--rag-requests", type=int, help="RAG requests timed (default 200; 40)")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--load-only", action="store_true", help="create and load the database, then exit")
    parser.add_argument("--profile", metavar="CASE", help="cProfile one in-process case after the run (its key)")
    parser.add_argument("--explain", metavar="CASE", help="time each SQL statement of a case, with its plan, and exit")
    parser.add_argument("--fresh", action="store_true", help="drop the bench database first, then load again")
    parser.add_argument("--drop", action="store_true", help="drop the bench database and its vector index, then exit")
    parser.add_argument("--json", type=Path, metavar="PATH", help="figures (default bench/out/conversations-<db>.json)")
    args = parser.parse_args(argv)
    logs = args.logs or (QUICK_LOGS if args.quick else FULL_LOGS)
    args.iterations = args.iterations or (20 if args.quick else 60)
    args.max_seconds = args.max_seconds or (4.0 if args.quick else 12.0)
    args.http_duration = args.http_duration or (2.0 if args.quick else 5.0)
    args.rag_requests = args.rag_requests or (40 if args.quick else 200)
    db = BenchDatabase(args.db, logs)
    if args.drop or args.fresh:
        db.drop()
        print(f"dropped {db.label} and {db.vector_dir}")
        if args.drop:
            return 0
    began = time.perf_counter()
    db.create()
    django_setup(db)
    facts = prepare(db, logs, KB_CHUNKS)
    if args.db == "mysql":
        facts["mariadb"] = mysql_variables(
            ["version", "innodb_buffer_pool_size", "innodb_flush_method", "innodb_flush_log_at_trx_commit"]
        )
    facts["setup_s"] = time.perf_counter() - began
    if args.load_only:
        print(f"ready in {facts['setup_s']:.0f} s: {json.dumps(facts, default=str)}")
        return 0

    from bench import conversations_measure as m
    from bench import conversations_rag as rag
    from bench.conversations_http import measure_http

    client = m.InProcess(m.staff_user())
    all_cases = m.cases()
    if args.explain:
        m.explain(client, m.case_named(all_cases, args.explain))
        return 0
    print("\nin-process ...", flush=True)
    page = m.log_page_split(client, all_cases[0], args)
    m.measure_in_process(client, all_cases, args)
    print("RAG in-process ...", flush=True)
    questions = [entry["question"] for entry in conversation_pool(60, seed=3)]
    watch = m.CpuWatch()
    try:
        timings = rag.rag_measure(questions, user=client.user, iterations=args.rag_requests)
    finally:
        rag.rag_logs_clean()
    facts["rag_cpu"] = watch.stop()
    http_extra = {}
    if not args.skip_http:
        print("HTTP ...", flush=True)
        try:
            http_extra = measure_http(db, all_cases, args)
        finally:
            rag.rag_logs_clean()
    facts["run_s"] = time.perf_counter() - began

    report(db, logs, facts, all_cases, page, timings, http_extra, args)
    if args.profile:
        m.profile(client, m.case_named(all_cases, args.profile), rounds=10)
    return 0


def report(db, logs, facts, all_cases, page, timings, http_extra, args) -> None:
    from bench.conversations_measure import PAGE_RATIO_TARGET, RAG_OVERHEAD_TARGET_MS, percentile, summary

    print(f"\n== Conversations, {db.label}, {logs:,} logs ==")
    print(f"data: {json.dumps({k: v for k, v in facts.items() if k != 'knowledge_base'}, default=str)}")
    rows = []
    for case in all_cases:
        target = case.target_ms
        rows.append(
            {
                "case": case.name,
                "matches": "-" if case.matches is None else f"{case.matches:,}",
                "target": "-" if target is None else f"<{target:.0f}",
                "p50 ms": fmt(case.in_process["p50_ms"]),
                "p90 ms": fmt(case.in_process["p90_ms"]),
                "SQL ms": fmt(case.in_process["sql_p50_ms"]),
                "other CPU": fmt(case.in_process["other_cores"], 2),
                "HTTP p50": "skipped" if case.http.get("skipped") else fmt(case.http.get("p50_ms")),
                "req/s c=4": fmt(case.http.get("rps_c4"), 0),
                "srv CPU ms/req": fmt(case.http.get("server_cpu_ms")),
                "in-proc": verdict(case.in_process["p50_ms"], target),
                "HTTP": "FAIL" if case.http.get("skipped") else verdict(case.http.get("p50_ms"), target),
            }
        )
    print()
    print_table(rows)
    print(
        "p50/p90/SQL ms: in-process through the view (SQL ms: inside cursor.execute); other CPU: cores' worth "
        "used meanwhile by processes other than this one and the database server"
    )
    if http_extra:
        h = http_extra["healthz"]
        print(f"floor: /healthz p50 {fmt(h['p50_ms'])} ms (c=1), {fmt(h['rps_c4'], 0)} req/s (c=4)")

    print(f"\nlog page split ({all_cases[0].name}, {page['rows']} rows, in-process):")
    print_table(
        [
            {"piece": name, "p50 ms": fmt(s["p50_ms"], 2), "p90 ms": fmt(s["p90_ms"], 2)}
            for name, s in page["pieces"].items()
        ]
    )
    ratio, sql_ratio = page["orm_to_raw"], page["orm_sql_to_raw"]
    print(
        f"the ORM's SQL / hand-written SQL, on the database = {sql_ratio:.2f} (target <= {PAGE_RATIO_TARGET}): "
        f"{'PASS' if sql_ratio <= PAGE_RATIO_TARGET else 'FAIL'}\n"
        f"ORM query with its Python (FilterSet, QuerySet, page) / hand-written SQL = {ratio:.2f}: "
        f"{'PASS' if ratio <= PAGE_RATIO_TARGET else 'FAIL'}; whole view / hand-written SQL = {page['view_to_raw']:.2f}"
    )

    configured, single = timings["as configured"], timings["two threads"]
    overhead = percentile(configured.overhead, 0.5)
    print(
        f"\nRAG, {facts['knowledge_base']['chunks']:,} chunks, local provider, {len(configured.total)} requests "
        "per setting (one setting after the other):"
    )

    def series(t) -> dict[str, list[float]]:
        return {
            "POST /api/rag-chat (view, rendered)": t.total,
            "provider: llm.complete (local), in the request": t.provider,
            "provider alone, same messages": t.provider_alone,
            "overhead = request - provider": t.overhead,
            **{f"  {name}": values for name, values in t.parts.items()},
        }

    one = series(single)
    print_table(
        [
            {
                "piece": name,
                "p50 ms": fmt(percentile(values, 0.5), 2),
                "p90 ms": fmt(percentile(values, 0.9), 2),
                "2 threads p50": fmt(percentile(one[name], 0.5), 2),
                "2 threads p90": fmt(percentile(one[name], 0.9), 2),
            }
            for name, values in series(configured).items()
        ]
    )
    single_overhead = percentile(single.overhead, 0.5)
    print(
        f"RAG overhead p50 {overhead:.1f} ms (target < {RAG_OVERHEAD_TARGET_MS:.0f}): "
        f"{verdict(overhead, RAG_OVERHEAD_TARGET_MS)}; "
        f"with two BLAS/OpenMP threads for the question {single_overhead:.1f} ms: "
        f"{verdict(single_overhead, RAG_OVERHEAD_TARGET_MS)}"
    )
    if http_extra:
        r = http_extra["rag"]
        print(f"RAG over HTTP: p50 {fmt(r['p50_ms'])} ms (c=1), {fmt(r['rps_c4'], 0)} req/s (c=4)")

    path = args.json or OUT / f"conversations-{db.kind}{'' if logs == FULL_LOGS else f'-{logs}'}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    figures = {
        "date": dt.date.today().isoformat(),
        "command": " ".join(sys.argv),
        "logs": logs,
        "facts": facts,
        "cases": [asdict(case) for case in all_cases],
        "log_page": page,
        "rag": {
            name: {
                "total": summary(t.total),
                "provider": summary(t.provider),
                "provider_alone": summary(t.provider_alone),
                "overhead": summary(t.overhead),
                "parts": {part: summary(values) for part, values in t.parts.items()},
            }
            for name, t in timings.items()
        },
        "http_extra": http_extra,
    }
    path.write_text(json.dumps(figures, indent=1, default=str, ensure_ascii=False) + "\n")
    print(f"\nfigures written to {path}")


if __name__ == "__main__":
    sys.exit(main())
