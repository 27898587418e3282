"""Search quality of the conversation logs: recall and precision of `q` on a labelled query set.

    .venv/bin/python -m bench.search_quality                    # the current analysis
    .venv/bin/python -m bench.search_quality --baseline ebe7df2 # aiplatform/text.py as of that commit
    .venv/bin/python -m bench.search_quality --show-misses      # which logs each query missed or added
    .venv/bin/python -m bench.search_quality --relabel          # rewrite the expected keys from the rules

The logs go into a scratch SQLite database (a temporary folder, migrated):
the demo conversations (conversations.demo: its knowledge base, embedded,
and its questions asked through the offline RAG chat), the distinct
question/answer pairs of the conversations benchmark
(bench.conversations_text, the pool bench.conversations_data draws its
million logs from) and a few written for this set (`extra_logs` in the
data file: compounds and English forms the other two lack). Each log has a
stable key (`demo:<question>`, `bench:<position in the pool>`,
`extra:<n>`). Every query of bench/search_queries.json goes through
conversations.search.logs_search, the function behind the API's `q`, the
page and the admin, over all logs; its matches are compared with the keys
the query's reader rule expects.

Recall and precision are means over the queries of a group (a query with
no match has precision 1 when nothing was expected, else 0).
`--baseline COMMIT` stores and searches with aiplatform/text.py of that
commit (read with git show), the before figure.
"""

import argparse
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "bench" / "search_queries.json"
POOL_SIZE = 3000


def django_setup(folder: Path) -> None:
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
            "DJANGO_READ_DOTENV": "false",
            "DJANGO_SECRET_KEY": "bench-search-quality",
            "DJANGO_SETTINGS_MODULE": "aiplatform.settings",
            "VECTOR_INDEX_DIR": str(folder / "vectors"),
            "LLM_PROVIDER": "local",
            "EMBEDDINGS_PROVIDER": "use",
            "TASKS_BACKEND": "immediate",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def use_baseline(commit: str) -> None:
    """Replace aiplatform.text.search_terms (what is stored and what a query
    becomes) with the one of `commit`."""
    source = subprocess.run(
        ["git", "show", f"{commit}:aiplatform/text.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="search-baseline-"))
    (folder / "baseline_text.py").write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_text", folder / "baseline_text.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from aiplatform import text

    text.search_terms = module.search_terms
    text.query_tokens.cache_clear()


def load_logs(extra_logs: list[dict]) -> dict[str, int]:
    """Store the three sets of logs; returns {key: log id}."""
    from bench.conversations_data import SEED
    from bench.conversations_text import conversation_pool
    from conversations import demo
    from conversations.models import ConversationLog
    from conversations.services.logs import log_record

    keys: dict[str, int] = {}
    started = time.perf_counter()
    demo.load_demo_data(StringIO())
    for pk, question in ConversationLog.objects.order_by("pk").values_list("pk", "question"):
        keys[f"demo:{question}"] = pk
    print(f"  demo: {len(keys)} logs ({time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    for n, entry in enumerate(conversation_pool(POOL_SIZE, seed=SEED)):
        log = log_record(
            account=None,
            user_id="bench",
            question=entry["question"],
            answer=entry["answer"],
            status="completed",
            latency_ms=1.0,
        )
        keys[f"bench:{n}"] = log.pk
    print(f"  bench pool: {POOL_SIZE} logs ({time.perf_counter() - started:.1f} s)")
    for n, entry in enumerate(extra_logs):
        log = log_record(
            account=None,
            user_id="extra",
            question=entry["question"],
            answer=entry.get("answer", ""),
            status="completed",
            latency_ms=1.0,
        )
        keys[f"extra:{n}"] = log.pk
    print(f"  extra: {len(extra_logs)} logs")
    return keys


def log_texts(keys: dict[str, int]) -> dict[str, str]:
    from conversations.models import ConversationLog

    by_id = {pk: f"{q}\n{a}" for pk, q, a in ConversationLog.objects.values_list("pk", "question", "answer")}
    return {key: by_id[pk] for key, pk in keys.items()}


def corpus_fingerprint(texts: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for key in sorted(texts):
        digest.update(f"{key}\t{texts[key]}\n".encode())
    return digest.hexdigest()[:16]


def rule_matches(rule: dict, texts: dict[str, str]) -> list[str]:
    """Keys whose question or answer a reader would expect the query to find:
    `pattern` (a regular expression, case-insensitive) matches and `not`
    (when given) does not."""
    pattern = re.compile(rule["pattern"], re.IGNORECASE)
    exclude = re.compile(rule["not"], re.IGNORECASE) if rule.get("not") else None
    found = []
    for key, body in texts.items():
        if pattern.search(body) and not (exclude and exclude.search(body)):
            found.append(key)
    return sorted(found, key=_key_order)


def _key_order(key: str):
    kind, _, rest = key.partition(":")
    return (kind, int(rest) if rest.isdigit() else 0, rest)


def queries_dump(data: dict) -> str:
    """The data file with one line per query and extra log, so that a diff
    of a relabelling shows which queries changed."""
    parts = [
        f"{json.dumps(name)}: {json.dumps(data[name], ensure_ascii=False, indent=1)}" for name in ("_about", "corpus")
    ]
    for name in ("extra_logs", "queries"):
        rows = ",\n".join("  " + json.dumps(row, ensure_ascii=False) for row in data[name])
        parts.append(f"{json.dumps(name)}: [\n{rows}\n ]")
    return "{\n " + ",\n ".join(parts) + "\n}\n"


def search_keys(query: str, ids_to_keys: dict[int, str]) -> set[str]:
    from conversations.models import ConversationLog
    from conversations.search import logs_search

    ids = logs_search(ConversationLog.objects.all(), query).values_list("pk", flat=True)
    return {ids_to_keys[pk] for pk in ids}


def scores(expected: set[str], found: set[str]) -> tuple[float, float]:
    hits = len(expected & found)
    recall = hits / len(expected) if expected else 1.0
    precision = hits / len(found) if found else (1.0 if not expected else 0.0)
    return recall, precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="COMMIT", help="store and search with aiplatform/text.py of COMMIT")
    parser.add_argument("--relabel", action="store_true", help="rewrite the expected keys from the rules")
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    data = json.loads(QUERIES.read_text())
    with tempfile.TemporaryDirectory(prefix="search-quality-") as folder:
        django_setup(Path(folder))
        if args.baseline:
            use_baseline(args.baseline)
        print("loading logs into a scratch SQLite database ...", flush=True)
        keys = load_logs(data["extra_logs"])
        texts = log_texts(keys)
        fingerprint = corpus_fingerprint(texts)
        if args.relabel:
            for item in data["queries"]:
                item["expected"] = rule_matches(item["rule"], texts)
            data["corpus"] = {"logs": len(texts), "fingerprint": fingerprint}
            QUERIES.write_text(queries_dump(data))
            print(f"relabelled {len(data['queries'])} queries over {len(texts)} logs ({fingerprint})")
            return
        if data.get("corpus", {}).get("fingerprint") != fingerprint:
            print(
                f"WARNING: the logs differ from those labelled ({fingerprint} != "
                f"{data.get('corpus', {}).get('fingerprint')}): figures compare with stale labels",
                file=sys.stderr,
            )
        ids_to_keys = {pk: key for key, pk in keys.items()}
        rows = []
        started = time.perf_counter()
        for item in data["queries"]:
            expected = set(item["expected"])
            found = search_keys(item["query"], ids_to_keys)
            recall, precision = scores(expected, found)
            rows.append(item | {"recall": recall, "precision": precision, "found": len(found)})
            if args.show_misses and (recall < 1 or precision < 1):
                missed = sorted(expected - found, key=_key_order)
                extra = sorted(found - expected, key=_key_order)
                print(f"{item['query']!r} [{item['class']}] R={recall:.2f} P={precision:.2f}")
                for label, group in (("missed", missed), ("not expected", extra)):
                    for key in group[:5]:
                        print(f"    {label}: {key}: {texts[key][:90]!r}")
                    if len(group) > 5:
                        print(f"    ... {len(group) - 5} more {label}")
        search_s = time.perf_counter() - started

    groups = {"all": rows}
    for lang in ("ko", "en"):
        groups[lang] = [row for row in rows if row["lang"] == lang]
    for name in sorted({row["class"] for row in rows}):
        groups[f"class: {name}"] = [row for row in rows if row["class"] == name]
    figures = {}
    print(f"\n{'group':<24} {'queries':>7} {'recall':>7} {'precision':>9}")
    for name, group in groups.items():
        recall = sum(row["recall"] for row in group) / len(group)
        precision = sum(row["precision"] for row in group) / len(group)
        figures[name] = {"queries": len(group), "recall": round(recall, 4), "precision": round(precision, 4)}
        print(f"{name:<24} {len(group):>7} {recall:>7.3f} {precision:>9.3f}")
    print(f"\n{len(rows)} queries over {len(keys)} logs in {search_s:.2f} s; analysis: {args.baseline or 'current'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"baseline": args.baseline, "groups": figures}, indent=1))


if __name__ == "__main__":
    main()
