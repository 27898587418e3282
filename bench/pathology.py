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
"""

import argparse
import base64
import contextlib
import http.client
import json
import multiprocessing
import os
import random
import resource
import signal
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from bench.harness import _box_cpu_seconds, _percentile, print_table, start_server

USERNAME = "bench"
API = "/api/pathology"
# Cores' worth of CPU used by neither the clients nor the server above which a run is called disturbed.
OTHER_CPU_WARNING = 0.25


# --- A simulated worker (its own process) ---------------------------------


def tiny_png(side: int = 16) -> bytes:
    """A real greyscale PNG heatmap, side x side, built by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes((x * y) % 256 for x in range(side)) for y in range(side))
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


HEATMAP = tiny_png()


class Client:
    """One keep-alive connection to the server on 127.0.0.1; reconnects (and retries once) after a failure.

    Retrying is safe here: a claim repeated by its winner renews the lease,
    and a completion repeated answers stored=false.
    """

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = {"Host": "127.0.0.1", "Content-Type": "application/json", **headers}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.failures: Counter = Counter()

    def call(self, method: str, path: str, payload=None, *, timeout: float = 30.0, raw: bool = False):
        """(status, parsed JSON body, or the bytes with raw=True); status 0 when the request failed twice."""
        body = json.dumps(payload).encode() if payload is not None else None
        for _attempt in range(2):
            self.conn.timeout = timeout
            if self.conn.sock is not None:
                self.conn.sock.settimeout(timeout)
            try:
                self.conn.request(method, path, body=body, headers=self.headers)
                response = self.conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.failures[type(exc).__name__] += 1
                self.conn.close()
                continue
            if raw:
                return response.status, data
            try:
                return response.status, json.loads(data) if data else {}
            except ValueError:
                return response.status, {"raw": data[:200].decode(errors="replace")}
        return 0, {}

    def close(self) -> None:
        self.conn.close()


@dataclass(frozen=True)
class WorkerConfig:
    name: str
    key: str
    port: int
    log_path: str
    wait: int  # long-poll seconds; 0 polls without waiting
    limit: int = 10
    work_s: float = 0.005
    poll_every: float = 0.0  # seconds between polls (the seed's 30); 0: poll again at once
    phase_s: float = 0.0  # delay before the first poll
    kill_after: int = 0  # stop after this many claims, holding the last one, until killed
    shuffle: bool = False  # try the candidates in a random order instead of the listed one


def result_for(rng: random.Random) -> dict:
    tumor = round(rng.uniform(0.05, 0.95), 3)
    return {
        "label": "tumor" if tumor >= 0.5 else "normal",
        "probabilities": {"tumor": tumor, "normal": round(1 - tumor, 3)},
        "top_regions": [{"x": rng.randrange(50_000), "y": rng.randrange(50_000), "score": tumor, "width": 256}],
        "model": "bench",
    }


def worker_main(config: WorkerConfig, ready, go, stop, holding) -> None:
    """The worker loop: poll, claim in order, work, report progress, complete; log every claim and completion."""
    rng = random.Random(config.name)
    client = Client(config.port, {"X-API-Key": config.key, "X-Worker-Host": config.name})
    heatmap = base64.b64encode(HEATMAP).decode()
    counts: Counter = Counter()
    # Line-buffered: a killed worker leaves every line it wrote.
    with open(config.log_path, "a", buffering=1) as log:

        def record(event: str, **fields) -> None:
            log.write(json.dumps({"event": event, "worker": config.name, "t": time.time(), **fields}) + "\n")

        client.call("GET", f"{API}/pending-requests/?limit=1")  # registers the worker before the clock starts
        client.close()  # the wait below may outlast the server's keep-alive
        ready.wait(timeout=120)
        go.wait()
        next_poll = time.monotonic() + config.phase_s
        claims = 0
        while not stop.is_set():
            if config.poll_every or config.phase_s:
                client.close()  # an idle keep-alive connection would be closed by the server meanwhile
                while not stop.is_set() and time.monotonic() < next_poll:
                    time.sleep(min(0.2, next_poll - time.monotonic()))
                if stop.is_set():
                    break
                next_poll += config.poll_every
            polled = time.time()
            status, body = client.call(
                "GET", f"{API}/pending-requests/?limit={config.limit}&wait={config.wait}", timeout=config.wait + 30
            )
            counts["polls"] += 1
            record("poll", polled=polled, found=body.get("count"))
            if status != 200:
                counts[f"poll {status}"] += 1
                time.sleep(0.1)
                continue
            candidates = body["requests"]
            counts["empty polls"] += not candidates
            if config.shuffle:
                rng.shuffle(candidates)
            for candidate in candidates:
                request_id = candidate["request_id"]
                sent = time.time()
                status, body = client.call(
                    "POST", f"{API}/update-status/{request_id}/", {"status": "processing", "progress": 10}
                )
                if status != 200:
                    counts[f"claim {status}"] += 1
                    continue
                claims += 1
                held = body["request"]
                record("claim", id=request_id, claimed_at=held["claimed_at"], attempts=held["attempts"], sent=sent)
                if claims == config.kill_after:
                    holding.set()
                    time.sleep(3600)  # holding the claim until the benchmark kills this process
                time.sleep(config.work_s)
                status, _ = client.call(
                    "POST", f"{API}/update-status/{request_id}/", {"status": "processing", "progress": 60}
                )
                if status != 200:
                    counts[f"progress {status}"] += 1
                    record("lost", id=request_id, status=status)
                    continue
                sent = time.time()
                status, body = client.call(
                    "POST",
                    f"{API}/complete-request/{request_id}/",
                    {"result": result_for(rng), "heatmap_base64": heatmap},
                )
                done = body.get("request", {})
                record(
                    "complete",
                    id=request_id,
                    status=status,
                    stored=body.get("stored"),
                    finished_at=done.get("finished_at"),
                    sent=sent,
                )
                if not config.poll_every:
                    break  # a fresh list: the rest of this one is mostly taken by now
        cpu = os.times()
        record("summary", counts=dict(counts), failures=dict(client.failures), cpu_s=cpu.user + cpu.system)
    client.close()


# --- The benchmark --------------------------------------------------------


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
