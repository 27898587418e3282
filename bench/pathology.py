"""Pathology worker protocol under load: simulated workers over HTTP, one killed mid-run.

    .venv/bin/python -m bench.pathology [--quick] [--claim-order shuffled] [--json PATH] [--logs DIR]

The production server (gunicorn + uvicorn workers, SQLite) with a short lease.
Eight worker processes, each with its own worker key and keep-alive
connection, long-poll `pending-requests`, claim the candidates in order
(`update-status` processing: 200 won, 409 taken), report progress once,
and complete with a result and a small PNG heatmap. Every claim and
completion goes to a JSONL file per worker. `--claim-order shuffled`
makes each worker try its candidates in a random order instead, to see
what the 409s of eight workers racing down one list cost.

1. Drain: a backlog (half the requests) is queued, then the workers start
   at once; claims/s and completions/s come from it. One worker stops
   after its Nth claim, holding the request, and is killed with SIGKILL:
   the lease runs out, the request goes back to pending and another worker
   finishes it (attempts 2).
2. Paced: the other half arrive one by one at a random (Poisson) rate below
   capacity; pickup latency (claimed_at - created_at, both server times)
   is measured on them.
3. Seed poll: two workers that poll every 30 s without `wait`, as the seed
   did, and a few requests at uniformly random times; their pickup latency
   against the same figure expected from their actual poll times.

Both the API (every request, as the staff requester sees them) and the
worker logs are checked: each request completed, exactly once (one 200
with stored=true), by the worker the API names.

The simulated worker is bench.pathology_worker, the phases and the checks are
in bench.pathology_phases; this module starts the server, runs the phases and
prints the report.
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from bench.harness import print_table, start_server
from bench.pathology_phases import long_poll_phase, seed_poll_phase
from bench.pathology_worker import Client

USERNAME = "bench"
# Cores' worth of CPU used by neither the clients nor the server above which a run is called disturbed.
OTHER_CPU_WARNING = 0.25


def make_keys(server, names: list[str]) -> list[str]:
    def one(name: str) -> str:
        return server.manage("create_api_key", "--name", name, "--scope", "worker").strip().splitlines()[-1]

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, names))


def report(figures: dict) -> bool:
    main, seed = figures["long_poll"], figures.get("seed_poll")
    checks, killed = main["checks"], main["killed"]
    rows = [
        ("requests", f"{checks['requests']} ({main['drain']['requests']} backlog + {main['paced']['requests']} paced)"),
        ("duplicates (two stored completions)", checks["duplicates"]),
        ("lost (not completed)", checks["lost"]),
        ("claims/s (draining the backlog)", f"{main['drain']['claims_per_s']:.1f}"),
        ("completions/s (draining the backlog)", f"{main['drain']['completions_per_s']:.1f}"),
        (
            "pickup p50 / p95 / max, long-poll",
            "{pickup_p50_s:.3f} / {pickup_p95_s:.3f} / {pickup_max_s:.3f} s".format(**main["paced"]),
        ),
        ("requeued by lease expiry", checks["requeued (attempts > 1)"]),
        (
            f"409s per won claim ({figures['claim_order']})",
            f"{main['worker_counts'].get('claim 409', 0) / main['claims']:.2f}",
        ),
        (
            "killed worker's request: status, by, attempts",
            f"{killed['status']}, {killed['finished_by']}, {killed['attempts']}",
        ),
        ("killed worker's current_request afterwards", (killed["in_workers_list"] or {}).get("current_request")),
    ]
    if seed:
        rows.append(
            (
                f"pickup p50 / p95 / max, {seed['every_s']:g} s poll",
                "{pickup_p50_s:.1f} / {pickup_p95_s:.1f} / {pickup_max_s:.1f} s".format(**seed),
            )
        )
        rows.append(
            (
                "  expected p50 / p95: these polls; one worker",
                "{expected_for_these_polls_p50_s:.1f} / {expected_for_these_polls_p95_s:.1f} s; "
                "{expected_one_worker_p50_s:.1f} / {expected_one_worker_p95_s:.1f} s".format(**seed),
            )
        )
    print()
    print_table([{"figure": name, "value": str(value)} for name, value in rows])
    print()
    print(json.dumps(figures, indent=2, default=str))
    passed = (
        main["all_completed"]
        and checks["duplicates"] == 0
        and checks["lost"] == 0
        and checks["no stored completion in the logs"] == 0
        and checks["worker differs from the log"] == 0
        and killed["status"] == "completed"
        and killed["finished_by"] not in (None, killed["worker"])
        and killed["attempts"] == 2
        and main["heatmap_ok"]
        and (seed is None or (seed["checks"]["lost"] == 0 and seed["checks"]["duplicates"] == 0))
    )
    other = None
    cpu = main["cpu_cores"]
    if cpu["box"] is not None and cpu["server"] is not None:
        other = cpu["box"] - cpu["server"] - cpu["clients"]

    def cores(value: float | None) -> str:
        return "?" if value is None else f"{value:.2f}"

    print(
        f"\nCPU over the long-poll phase ({cpu['wall_s']:.0f} s), cores: box {cores(cpu['box'])}, server "
        f"{cores(cpu['server'])}, clients {cores(cpu['clients'])}, others {cores(other)}"
        + (" (the box was shared: figures may be disturbed)" if other and other > OTHER_CPU_WARNING else "")
    )
    figures["other_cpu_cores"] = other
    print(f"load average at the start: {figures['loadavg_at_start']}")
    print("PASS" if passed else "FAIL")
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, help="requests in the long-poll phase (default 1000; --quick 200)")
    parser.add_argument("--workers", type=int, default=8, help="simulated workers (default 8)")
    parser.add_argument("--rate", type=float, default=5.0, help="paced arrivals per second (default 5)")
    parser.add_argument("--wait", type=int, default=10, help="long-poll seconds (default 10)")
    parser.add_argument(
        "--claim-order",
        choices=["in-order", "shuffled"],
        default="in-order",
        help="how a worker tries the listed candidates (default in-order, as listed)",
    )
    parser.add_argument("--lease", type=int, default=3, help="PATHOLOGY_LEASE_SECONDS (default 3)")
    parser.add_argument(
        "--kill-after", type=int, help="the victim's claims before it is killed (default: a third of its share)"
    )
    parser.add_argument(
        "--seed-requests", type=int, help="requests in the 30 s poll phase, 0 skips it (default 20; --quick 0)"
    )
    parser.add_argument("--seed-window", type=float, default=90.0, help="seconds over which they arrive (default 90)")
    parser.add_argument("--seed-every", type=float, default=30.0, help="the seed's poll interval (default 30)")
    parser.add_argument("--seed", type=int, default=20261129, help="random seed")
    parser.add_argument("--quick", action="store_true", help="200 requests and no 30 s poll phase by default")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures to this file")
    parser.add_argument("--logs", type=Path, metavar="DIR", help="keep the JSONL logs (workers, created) here")
    args = parser.parse_args(argv)
    if args.requests is None:
        args.requests = 200 if args.quick else 1000
    if args.seed_requests is None:
        args.seed_requests = 0 if args.quick else 20
    args.kill_after = args.kill_after or max(3, args.requests // 2 // args.workers // 3)

    figures: dict = {"loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3], "cores": os.cpu_count()}
    started = time.monotonic()
    env = {
        "USE_LOCAL_INFERENCE": "true",
        "PATHOLOGY_LEASE_SECONDS": str(args.lease),
        "PATHOLOGY_LONG_POLL_MAX_SECONDS": str(max(30, args.wait)),
    }
    with start_server(env=env) as server, tempfile.TemporaryDirectory(prefix="bench-pathology-") as tmp:
        logs = args.logs or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        for old in logs.glob("*.jsonl"):
            old.unlink()
        figures["server_env"] = env | {"workers": server.workers}
        figures["claim_order"] = args.claim_order
        port = urlsplit(server.base_url).port
        server.manage("ensure_admin", "--username", USERNAME)
        user_key = server.manage("create_api_key", "--name", "u", "--scope", "service", "--owner", USERNAME)
        user = Client(port, {"X-API-Key": user_key.strip().splitlines()[-1]})
        seed_names = [f"bench-seed{n + 1}" for n in range(2 if args.seed_requests else 0)]
        keys = make_keys(server, [f"bench-w{n + 1}" for n in range(args.workers)] + seed_names)
        figures["long_poll"] = long_poll_phase(args, server, port, user, keys[: args.workers], logs)
        if args.seed_requests:
            figures["seed_poll"] = seed_poll_phase(args, port, user, keys[args.workers :], logs)
        errors = [line for line in server.log().splitlines() if "Traceback" in line or "ERROR" in line]
        figures["server_log_errors"] = errors[:5]
    figures["total_s"] = time.monotonic() - started
    passed = report(figures)
    print(f"whole run: {figures['total_s']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
