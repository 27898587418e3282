"""Speed of the log search and of the analysis behind it, without the knowledge base or HTTP.

    .venv/bin/python -m bench.search_speed [--logs 50000] [--baseline COMMIT]

Loads `--logs` synthetic logs into a scratch SQLite database exactly as
bench.conversations does (bench.conversations_data: the 3,000-pair pool,
analysed once, bulk-inserted with the FTS5 triggers), then times the first
page (limit 50, newest first, as the API orders a search) of the
bench.conversations search cases through conversations.search.logs_search.
Prints the pool's analysis time, terms per log and p50 per case. The full
bench (`bench.conversations`) measures the same cases through the view and
over HTTP on a million logs.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.search_quality import django_setup, use_baseline

CASES = ["비밀번호", "온톨로지", "refund", "비밀번호 변경", "export", "exported", "로그", "결제수단"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=50_000)
    parser.add_argument("--baseline", metavar="COMMIT")
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="search-speed-") as folder:
        django_setup(Path(folder))
        if args.baseline:
            use_baseline(args.baseline)
        from bench import conversations_data as data
        from conversations.models import ConversationLog
        from conversations.search import MATCH_ID, logs_search

        pool, analyse_s = data.build_pool()
        report = data.logs_load(args.logs, pool, analyse_s, progress=lambda *_: None)
        terms = [len(entry.derived["completed"][0].split()) for entry in pool]
        print(
            f"analysis: {analyse_s:.1f} s for {len(pool)} pairs x3; {statistics.mean(terms):.1f} terms per log; "
            f"insert {report.insert_s:.1f} s ({args.logs / report.insert_s:,.0f} rows/s)"
        )
        print(f"{'query':<16} {'matches':>8} {'p50 ms':>8} {'p90 ms':>8}")
        for query in CASES:
            queryset = logs_search(ConversationLog.objects.all(), query)
            matches = queryset.count()
            times = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                list(queryset.order_by(f"-{MATCH_ID}").values("id", "question")[:50])
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            print(f"{query:<16} {matches:>8,} {times[len(times) // 2]:>8.2f} {times[int(len(times) * 0.9)]:>8.2f}")


if __name__ == "__main__":
    main()
