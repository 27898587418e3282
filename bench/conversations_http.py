"""The HTTP half of the conversations benchmark: every case through gunicorn (bench.harness)
on the bench database, with an owner-less `service` API key.

Imported after django.setup().
"""

import json
import time

from bench.conversations_db import BenchDatabase
from bench.conversations_measure import RAG_PATH, Case
from bench.conversations_rag import RAG_USER
from bench.harness import Result, load, start_server

# Cases slower than this in-process are loaded over HTTP by one client only, and not at all
# when slower than HTTP_SKIP_MS (the harness gives up on a request after 10 s).
SLOW_MS = 1000.0
HTTP_SKIP_MS = 8000.0
RAG_HTTP_QUESTION = "비밀번호를 변경하려면 어떻게 해야 하나요?"


def measure_http(db: BenchDatabase, all_cases: list[Case], args) -> dict:
    """Each case over HTTP: p50 with one client (latency), req/s with four (two workers).

    A case slower than SLOW_MS in-process gets one client only, for long enough to finish a few
    requests, and a pause after it: requests the client gave up on would still be running in
    the server and slow down the next case.
    """
    extra: dict = {}
    with start_server(env=db.environ(), workers=2) as server:
        key = server.manage("create_api_key", "--name", "bench-conversations", "--scope", "service")
        key = key.strip().splitlines()[-1].strip()
        headers = {"X-API-Key": key}
        probes = [("healthz", "/healthz", {}, "GET", None, 0.0)]
        probes += [
            (case.key, case.url_path, headers, "GET", None, case.in_process["p50_ms"])
            for case in all_cases
            if case.in_process["p50_ms"] < HTTP_SKIP_MS
        ]
        rag_body = json.dumps({"question": RAG_HTTP_QUESTION, "top_k": 4, "user_id": RAG_USER})
        probes.append(("rag", RAG_PATH, headers, "POST", rag_body, 0.0))
        results: dict[str, dict[str, Result]] = {}
        for name, path, hdrs, method, body, in_process_ms in probes:
            slow = in_process_ms > SLOW_MS
            duration = max(args.http_duration, 4 * in_process_ms / 1000) if slow else args.http_duration
            results[name] = {
                f"c{c}": load(
                    server.base_url + path,
                    headers=hdrs,
                    method=method,
                    body=body,
                    concurrency=c,
                    duration=duration,
                    warmup=1.0,
                    name=name,
                    server=server,
                )
                for c in ((1,) if slow else (1, 4))
            }
            r1, r4 = results[name]["c1"], results[name].get("c4")
            rps = f"{r4.rps:.0f} req/s (c=4)" if r4 else "no c=4 run (slow)"
            print(f"  {name}: p50 {r1.p50_ms:.1f} ms (c=1), {rps}", flush=True)
            if r1.errors or (r4 and r4.errors):
                print(f"    errors: {r1.error_kinds} {r4.error_kinds if r4 else ''}")
            if slow:
                time.sleep(min(20.0, 2 * in_process_ms / 1000))
        server.manage("revoke_api_key", "--prefix", key.split(".", 1)[0])
        problems = [line for line in server.log().splitlines() if "Traceback" in line or " ERROR " in line]
        if problems:
            print(f"  server log has {len(problems)} error lines, e.g. {problems[0]}")
    for case in all_cases:
        case.http = _http_figures(results[case.key]) if case.key in results else {"skipped": True}
    extra["healthz"] = _http_figures(results["healthz"])
    extra["rag"] = _http_figures(results["rag"])
    return extra


def _http_figures(runs: dict[str, Result]) -> dict:
    r1, r4 = runs["c1"], runs.get("c4")
    answered = r1.requests > r1.errors
    return {
        "p50_ms": r1.p50_ms if answered else None,
        "p90_ms": r1.p90_ms if answered else None,
        "requests_c1": r1.requests,
        "rps_c4": r4.rps if r4 else None,
        "p50_ms_c4": r4.p50_ms if r4 else None,
        "server_cpu_ms": (r4 or r1).server_cpu_ms,
        "errors": r1.errors + (r4.errors if r4 else 0),
    }
