"""A simulated pathology worker of the pathology benchmark, run in its own process: one
keep-alive connection, long-polls `pending-requests`, claims, reports progress,
completes with a result and a small PNG heatmap, and logs every claim and completion
to a JSONL file. It imports nothing from Django: its only contract is the HTTP API.
"""

import base64
import http.client
import json
import os
import random
import struct
import time
import zlib
from collections import Counter
from dataclasses import dataclass

API = "/api/pathology"


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
