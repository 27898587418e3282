"""The phases of the pathology benchmark: a pool of simulated workers (bench.pathology_worker,
spawned processes), the long-poll phase with a killed worker, the seed's 30 s poll phase,
and the checks of the API and the worker logs against each other.
"""

import json
import multiprocessing
import os
import random
import resource
import signal
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from bench.harness import _box_cpu_seconds, _percentile
from bench.pathology_worker import API, HEATMAP, Client, WorkerConfig, worker_main


def ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def pct(values: list[float], fraction: float) -> float:
    return _percentile(sorted(values), fraction)


def read_logs(paths: list[Path]) -> list[dict]:
    events = []
    for path in paths:
        if path.exists():
            events += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return events


def write_created(path: Path, created: list[dict]) -> None:
    path.write_text("".join(json.dumps(request) + "\n" for request in created))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Pool:
    """Worker processes sharing the start signals; `run()` starts them and waits until each has registered."""

    def __init__(self, configs: list[WorkerConfig]) -> None:
        context = multiprocessing.get_context("spawn")
        self.configs = configs
        self.ready = context.Barrier(len(configs) + 1)
        self.go, self.stop, self.holding = context.Event(), context.Event(), context.Event()
        self.processes = [
            context.Process(target=worker_main, args=(c, self.ready, self.go, self.stop, self.holding), name=c.name)
            for c in configs
        ]

    def run(self) -> None:
        for process in self.processes:
            process.start()
        self.ready.wait(timeout=120)

    def finish(self, grace: float) -> None:
        self.stop.set()
        for process in self.processes:
            process.join(timeout=grace)
            if process.is_alive():
                process.terminate()
                process.join()


def create(client: Client, slide: str) -> dict:
    sent = time.time()
    status, body = client.call("POST", f"{API}/analyze/", {"slide_file": slide})
    if status != 202:
        raise RuntimeError(f"POST analyze answered {status}: {body}")
    return {
        "id": body["request_id"],
        "created_at": ts(body["request"]["created_at"]),
        "slide": slide,
        "sent": sent,
        "answered": time.time(),
    }


def wait_completed(client: Client, count: int, deadline_s: float) -> bool:
    """Wait until `count` requests in all are completed (the API's own count)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        status, body = client.call("GET", f"{API}/requests/?status=completed&limit=1")
        if status == 200 and body["count"] >= count:
            return True
        time.sleep(0.5)
    return False


def api_requests(client: Client) -> dict[str, dict]:
    rows, path = {}, f"{API}/requests/?limit=1000"
    while path:
        status, body = client.call("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body}")
        rows |= {row["request_id"]: row for row in body["results"]}
        path = body["next"] and urlsplit(body["next"])._replace(scheme="", netloc="").geturl()
    return rows


def verify(created: list[dict], events: list[dict], rows: dict[str, dict]) -> dict:
    """What the API and the worker logs say of these requests: completed, once, by whom."""
    stored = defaultdict(list)
    for event in events:
        if event["event"] == "complete" and event["status"] == 200 and event["stored"]:
            stored[event["id"]].append(event["worker"])
    ids = [request["id"] for request in created]
    statuses = Counter(rows[i]["status"] if i in rows else "missing" for i in ids)
    return {
        "requests": len(ids),
        "completed": statuses["completed"],
        "lost": len(ids) - statuses["completed"],
        "statuses": dict(statuses),
        "duplicates": sum(len(stored[i]) > 1 for i in ids),
        "no stored completion in the logs": sum(not stored[i] for i in ids),
        "worker differs from the log": sum(
            bool(stored[i]) and rows.get(i, {}).get("worker") != stored[i][0] for i in ids
        ),
        "requeued (attempts > 1)": sum(rows.get(i, {}).get("attempts", 0) > 1 for i in ids),
        "heatmap missing": sum(i in rows and not rows[i]["heatmap_url"] for i in ids),
        "other completion answers": dict(
            Counter(f"{e['status']} stored={e['stored']}" for e in events if e["event"] == "complete")
            - Counter({"200 stored=True": sum(len(stored[i]) for i in ids)})
        ),
    }


def first_claims(events: list[dict]) -> dict[str, float]:
    claimed: dict[str, float] = {}
    for event in events:
        if event["event"] == "claim":
            claimed[event["id"]] = min(claimed.get(event["id"], float("inf")), ts(event["claimed_at"]))
    return claimed


def summaries(events: list[dict]) -> tuple[Counter, Counter]:
    counts: Counter = Counter()
    failures: Counter = Counter()
    for event in events:
        if event["event"] == "summary":
            counts.update(event["counts"])
            failures.update(event["failures"])
    return counts, failures


def long_poll_phase(args, server, port: int, user: Client, keys: list[str], logs: Path) -> dict:
    configs = [
        WorkerConfig(
            name=f"bench-w{n + 1}",
            key=key,
            port=port,
            log_path=str(logs / f"w{n + 1}.jsonl"),
            wait=args.wait,
            kill_after=args.kill_after if n == 0 else 0,
            shuffle=args.claim_order == "shuffled",
        )
        for n, key in enumerate(keys)
    ]
    pool = Pool(configs)
    rng = random.Random(args.seed)
    backlog = args.requests // 2
    cpu_at = (time.monotonic(), _box_cpu_seconds(), server.cpu_seconds(), time.process_time(), children_cpu())
    pool.run()
    victim = pool.processes[0]
    killed: dict = {}

    def kill() -> None:
        if pool.holding.wait(timeout=300) and victim.pid:
            os.kill(victim.pid, signal.SIGKILL)
            killed["at"] = time.time()

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    print(f"queueing a backlog of {backlog} requests, then {len(configs)} workers start ...", flush=True)
    created = [create(user, f"drain-{n:04d}.svs") for n in range(backlog)]
    go_at = time.time()
    drain_cpu_at = (_box_cpu_seconds(), server.cpu_seconds())
    pool.go.set()
    drained = wait_completed(user, backlog, deadline_s=180)
    drained_at = time.time()
    drain_cpu = [
        (end - start) / (drained_at - go_at) if None not in (start, end) else None
        for start, end in zip(drain_cpu_at, (_box_cpu_seconds(), server.cpu_seconds()), strict=True)
    ]
    paced = args.requests - backlog
    print(f"drained in {drained_at - go_at:.1f} s; {paced} requests at ~{args.rate:g}/s ...", flush=True)
    next_at = time.monotonic()
    for n in range(paced):
        next_at += rng.expovariate(args.rate)
        time.sleep(max(0.0, next_at - time.monotonic()))
        created.append(create(user, f"paced-{n:04d}.svs"))
    done = wait_completed(user, args.requests, deadline_s=120)
    pool.finish(grace=args.wait + 20)
    killer.join(timeout=1)
    wall = time.monotonic() - cpu_at[0]
    box, server_cpu = _box_cpu_seconds(), server.cpu_seconds()
    cpu = {
        "wall_s": wall,
        "box": (box - cpu_at[1]) / wall if box is not None and cpu_at[1] is not None else None,
        "server": (server_cpu - cpu_at[2]) / wall if server_cpu is not None and cpu_at[2] is not None else None,
        "clients": (time.process_time() - cpu_at[3] + children_cpu() - cpu_at[4]) / wall,
    }

    write_created(logs / "created.jsonl", created)
    events = read_logs([Path(c.log_path) for c in configs])
    rows = api_requests(user)
    checks = verify(created, events, rows)
    claimed = first_claims(events)
    drain_ids = {r["id"] for r in created[:backlog]}
    drain_claims = [claimed[i] for i in drain_ids if i in claimed]
    held = [e for e in events if e["worker"] == configs[0].name and e["event"] == "claim"]
    victim_id = held[-1]["id"] if held and killed else None
    victim_row = rows.get(victim_id, {})
    completes = {
        e["id"]: ts(e["finished_at"])
        for e in events
        if e["event"] == "complete" and e["stored"] and e["id"] in drain_ids and e["id"] != victim_id
    }
    reclaims = [e for e in events if e["event"] == "claim" and e["id"] == victim_id and e["worker"] != configs[0].name]
    pickup = [claimed[r["id"]] - r["created_at"] for r in created[backlog:] if r["id"] in claimed]
    counts, failures = summaries(events)
    return {
        "drained": drained,
        "all_completed": done,
        "checks": checks,
        "drain": {
            "requests": backlog,
            "seconds_to_last_claim": max(drain_claims) - go_at,
            "claims_per_s": len(drain_claims) / (max(drain_claims) - go_at),
            "completions_per_s": len(completes) / (max(completes.values()) - go_at),
            "queue_wait_p50_s": pct([claimed[r["id"]] - r["created_at"] for r in created[:backlog]], 0.5),
            "seconds_to_all_completed": drained_at - go_at,
            "box_cpu_cores": drain_cpu[0],
            "server_cpu_cores": drain_cpu[1],
            "server_cpu_ms_per_request": None
            if drain_cpu[1] is None
            else 1000 * drain_cpu[1] * (drained_at - go_at) / backlog,
        },
        "paced": {
            "requests": paced,
            "rate_per_s": args.rate,
            "pickup_p50_s": pct(pickup, 0.5),
            "pickup_p95_s": pct(pickup, 0.95),
            "pickup_max_s": max(pickup),
        },
        "killed": {
            "worker": configs[0].name,
            "after_claims": args.kill_after,
            "request": victim_id,
            "status": victim_row.get("status"),
            "finished_by": victim_row.get("worker"),
            "attempts": victim_row.get("attempts"),
            "message": victim_row.get("message"),
            "in_workers_list": next(
                (
                    w
                    for w in user.call("GET", f"{API}/workers/?limit=100")[1].get("results", [])
                    if w["name"] == configs[0].name
                ),
                None,
            ),
            "killed_at_s": killed["at"] - go_at if killed else None,
            "requeued_after_kill_s": ts(reclaims[0]["claimed_at"]) - killed["at"] if reclaims else None,
        },
        "round_trip_p50_ms": {
            kind: 1000 * pct([e["t"] - e["sent"] for e in events if e["event"] == kind], 0.5)
            for kind in ("claim", "complete")
        },
        "claims": sum(e["event"] == "claim" for e in events),
        "worker_counts": dict(counts),
        "client_failures": dict(failures),
        "cpu_cores": cpu,
        "heatmap_ok": heatmap_ok(user, rows, created),
    }


def heatmap_ok(user: Client, rows: dict[str, dict], created: list[dict]) -> bool:
    row = rows.get(created[-1]["id"], {})
    if not row.get("heatmap_url"):
        return False
    status, data = user.call("GET", row["heatmap_url"], raw=True)
    return status == 200 and data == HEATMAP


def seed_poll_phase(args, port: int, user: Client, keys: list[str], logs: Path) -> dict:
    rng = random.Random(args.seed + 1)
    configs = [
        WorkerConfig(
            name=f"bench-seed{n + 1}",
            key=key,
            port=port,
            log_path=str(logs / f"seed{n + 1}.jsonl"),
            wait=0,
            poll_every=args.seed_every,
            phase_s=rng.uniform(0, args.seed_every),
        )
        for n, key in enumerate(keys)
    ]
    pool = Pool(configs)
    pool.run()
    arrivals = sorted(rng.uniform(0, args.seed_window) for _ in range(args.seed_requests))
    print(
        f"seed poll: {len(configs)} workers polling every {args.seed_every:g} s (phases "
        f"{', '.join(f'{c.phase_s:.1f}' for c in configs)} s), {len(arrivals)} requests over "
        f"{args.seed_window:g} s ...",
        flush=True,
    )
    start = time.monotonic()
    start_wall = time.time()
    pool.go.set()
    created = []
    for n, offset in enumerate(arrivals):
        time.sleep(max(0.0, start + offset - time.monotonic()))
        created.append(create(user, f"seed-{n:03d}.svs"))
    done = wait_completed(user, args.requests + len(arrivals), deadline_s=2 * args.seed_every + 15)
    pool.finish(grace=15)
    write_created(logs / "seed-created.jsonl", created)
    events = read_logs([Path(c.log_path) for c in configs])
    claimed = first_claims(events)
    pickup = [claimed[r["id"]] - r["created_at"] for r in created if r["id"] in claimed]
    # What a uniformly random arrival would wait for these workers' actual polls.
    polls = sorted(e["polled"] for e in events if e["event"] == "poll")
    grid = [start_wall + args.seed_window * k / 10_000 for k in range(10_000)]
    expected = [min((p for p in polls if p >= t), default=float("nan")) - t for t in grid]
    return {
        "all_completed": done,
        "checks": verify(created, events, api_requests(user)),
        "workers": len(configs),
        "every_s": args.seed_every,
        "phases_s": [c.phase_s for c in configs],
        "requests": len(created),
        "pickup_p50_s": pct(pickup, 0.5),
        "pickup_p95_s": pct(pickup, 0.95),
        "pickup_max_s": max(pickup) if pickup else float("nan"),
        "expected_for_these_polls_p50_s": pct(expected, 0.5),
        "expected_for_these_polls_p95_s": pct(expected, 0.95),
        "expected_one_worker_p50_s": args.seed_every / 2,
        "expected_one_worker_p95_s": args.seed_every * 0.95,
    }
