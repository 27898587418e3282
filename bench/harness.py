"""A small HTTP benchmark harness: serve the project the production way, then load it.

    with start_server() as server:
        result = load(f"{server.base_url}/healthz", concurrency=8, duration=10)
    print_table([result.row()])

The server is gunicorn with the uvicorn workers from gunicorn.conf.py, on a
fresh SQLite database in a temporary directory; the client is a pool of
threads in this process, each with one keep-alive connection. Client and
server share the machine, so the figures compare endpoints with each other on
one box rather than promise a capacity.
"""

import contextlib
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python"
GUNICORN = VENV_BIN / "gunicorn"

HEALTH_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
MANAGE_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 10.0


# --- Server ---------------------------------------------------------------


def manage(*args: str, env: dict[str, str]) -> str:
    """Run `manage.py <args>` with `env` and return its stdout; fail loudly with its stderr."""
    completed = subprocess.run(
        [str(PYTHON), str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=MANAGE_TIMEOUT_S,
        check=False,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout + completed.stderr)
        raise RuntimeError(f"manage.py {' '.join(args)} exited with {completed.returncode}")
    return completed.stdout


@dataclass
class Server:
    base_url: str
    env: dict[str, str]
    workers: int
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def manage(self, *args: str) -> str:
        """`manage.py <args>` against this server's database and settings; returns stdout."""
        return manage(*args, env=self.env)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the gunicorn master and its workers so far (Linux only).

        Sampled before and after a load, it tells how much of the shared
        cores the server took, as opposed to the client threads.
        """
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        try:
            pids = [self.process.pid, *_children(self.process.pid)]
            for pid in pids:
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                    # Fields 14 and 15 (utime, stime) follow the parenthesised command name.
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    total += int(fields[11]) + int(fields[12])
        except OSError:
            return None
        return total / tick


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return children


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(base_url: str, process: subprocess.Popen, timeout: float) -> bool:
    parts = urlsplit(base_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return True
        except (OSError, http.client.HTTPException):
            pass  # not listening yet, or a worker still booting
        finally:
            conn.close()
        time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_S)
    # The server runs in its own session: sweep any worker the master left behind.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def start_server(env: dict[str, str] | None = None, workers: int = 2) -> Iterator[Server]:
    """Migrate a fresh SQLite database and serve it with gunicorn on a free local port.

    `env` is added last, so a caller can change any setting (a cache, a
    tasks backend, a feature switch). The server is stopped on exit.
    """
    with tempfile.TemporaryDirectory(prefix="aiplatform-bench-") as tmp:
        tmp_path = Path(tmp)
        port = _free_port()
        full_env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bench.sqlite3'}",
            "WEB_CONCURRENCY": str(workers),
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_DEBUG": "false",
            "DJANGO_READ_DOTENV": "false",  # a developer's .env must not change what is measured
            "API_THROTTLE_RATE": "1000000/min",
            # Upper case: Django's LOGGING takes the name as given and knows only
            # "WARNING"; gunicorn.conf.py lower-cases it for gunicorn.
            "LOG_LEVEL": "WARNING",
            "MEDIA_ROOT": str(tmp_path / "media"),
            **(env or {}),
        }
        manage("migrate", "--noinput", env=full_env)
        log_path = tmp_path / "server.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    str(GUNICORN),
                    "aiplatform.asgi:application",
                    "-c",
                    "gunicorn.conf.py",
                    "--bind",
                    f"127.0.0.1:{port}",
                ],
                cwd=ROOT,
                env=full_env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(
            base_url=f"http://127.0.0.1:{port}", env=full_env, workers=workers, log_path=log_path, process=process
        )
        try:
            if not _wait_healthy(server.base_url, process, HEALTH_TIMEOUT_S):
                sys.stderr.write(f"--- server log ({log_path}) ---\n{server.log()}\n---\n")
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited with code {process.returncode} before it answered")
                raise RuntimeError(f"the server did not answer GET /healthz with 200 within {HEALTH_TIMEOUT_S:.0f} s")
            yield server
        finally:
            _stop(process)


# --- Load -----------------------------------------------------------------


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    client_cpu: float  # cores' worth of CPU this (client) process used during the measured window
    server_cpu: float | None = None  # the same for the gunicorn master and workers, when known
    box_cpu: float | None = None  # the same for the whole machine: the sum of the cores, busy
    error_kinds: dict[str, int] = field(default_factory=dict)

    def row(self) -> dict[str, str]:
        return {
            "endpoint": self.name,
            "requests": str(self.requests),
            "errors": str(self.errors),
            "req/s": f"{self.rps:.0f}",
            "p50 ms": f"{self.p50_ms:.2f}",
            "p90 ms": f"{self.p90_ms:.2f}",
            "p99 ms": f"{self.p99_ms:.2f}",
            "client CPU": f"{self.client_cpu:.2f}",
            "server CPU": "?" if self.server_cpu is None else f"{self.server_cpu:.2f}",
            "box CPU": "?" if self.box_cpu is None else f"{self.box_cpu:.2f}",
            "server CPU ms/req": "?" if self.server_cpu_ms is None else f"{self.server_cpu_ms:.2f}",
        }

    @property
    def server_cpu_ms(self) -> float | None:
        """Server CPU time per request: unlike req/s, it hardly depends on what else runs on the box."""
        if self.server_cpu is None or not self.rps:
            return None
        return self.server_cpu / self.rps * 1000


def _box_cpu_seconds() -> float | None:
    """Busy CPU time of the whole machine so far, all cores (Linux only): the first line of /proc/stat."""
    try:
        ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # guest time is already in user


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    last_done: float = 0.0


def _client(url: str, method: str, headers: dict[str, str], body: bytes | None, window: tuple[float, float]) -> _Tally:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    tally = _Tally()
    conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=REQUEST_TIMEOUT_S)
    measure_from, stop_at = window
    try:
        while (began := time.perf_counter()) < stop_at:
            measured = began >= measure_from
            try:
                conn.request(method, target, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = 200 <= response.status < 300
                kind = str(response.status)
            except (OSError, http.client.HTTPException) as exc:
                ok, kind = False, type(exc).__name__
                conn.close()  # the next request() opens a new connection
                time.sleep(0.01)  # a refused connection must not become a busy loop
            done = time.perf_counter()
            if measured:
                tally.last_done = done
                if ok:
                    tally.latencies.append(done - began)
                else:
                    tally.errors[kind] += 1
    finally:
        conn.close()
    return tally


def load(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes | str | None = None,
    concurrency: int = 8,
    duration: float = 10.0,
    warmup: float = 1.0,
    name: str | None = None,
    server: Server | None = None,
) -> Result:
    """Send requests to `url` from `concurrency` threads for `warmup` + `duration` seconds.

    Each thread keeps one connection open and sends its next request as soon
    as the previous answer is read (a closed loop). Only requests begun after
    the warm-up count. A non-2xx answer or an exception is an error; after an
    exception the thread reconnects. Given the `server`, the result also
    tells how much CPU the server used in the measured window.
    """
    if urlsplit(url).hostname != "127.0.0.1":
        raise ValueError(f"the harness sends traffic only to 127.0.0.1, not {url}")
    if isinstance(body, str):
        body = body.encode()
    all_headers = {"Host": "127.0.0.1", **(headers or {})}
    if body is not None:
        all_headers.setdefault("Content-Type", "application/json")
    now = time.perf_counter()
    window = (now + warmup, now + warmup + duration)
    tallies: list[_Tally] = []

    def run() -> None:
        tallies.append(_client(url, method, all_headers, body, window))

    threads = [threading.Thread(target=run, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, window[0] - time.perf_counter()))
    client_cpu_at = time.process_time()
    server_cpu_at = server.cpu_seconds() if server else None
    box_cpu_at = _box_cpu_seconds()
    time.sleep(max(0.0, window[1] - time.perf_counter()))
    client_cpu = time.process_time() - client_cpu_at
    server_cpu_end = server.cpu_seconds() if server else None
    box_cpu_end = _box_cpu_seconds()
    server_cpu = box_cpu = None
    if server_cpu_at is not None and server_cpu_end is not None:
        server_cpu = (server_cpu_end - server_cpu_at) / duration
    if box_cpu_at is not None and box_cpu_end is not None:
        box_cpu = (box_cpu_end - box_cpu_at) / duration
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT_S + 5)

    latencies = sorted(latency for tally in tallies for latency in tally.latencies)
    errors: Counter = sum((tally.errors for tally in tallies), Counter())
    count = len(latencies) + sum(errors.values())
    # Requests begun before the end may finish a little after it: divide by the real span.
    seconds = max([tally.last_done for tally in tallies] + [window[1]]) - window[0]
    return Result(
        name=name or urlsplit(url).path,
        requests=count,
        errors=sum(errors.values()),
        seconds=seconds,
        rps=count / seconds,
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p90_ms=_percentile(latencies, 0.90) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        client_cpu=client_cpu / duration,
        server_cpu=server_cpu,
        box_cpu=box_cpu,
        error_kinds=dict(errors),
    )


# --- Output ---------------------------------------------------------------


def print_table(rows: list[dict[str, str]], file=None) -> None:
    """Print dicts with the same keys as an aligned table (first column left, the rest right)."""
    if not rows:
        return
    columns = list(rows[0])
    widths = {col: max(len(col), *(len(str(row.get(col, ""))) for row in rows)) for col in columns}

    def line(values: dict[str, str]) -> str:
        cells = [
            str(values.get(col, "")).ljust(widths[col]) if i == 0 else str(values.get(col, "")).rjust(widths[col])
            for i, col in enumerate(columns)
        ]
        return "  ".join(cells).rstrip()

    out = file or sys.stdout
    print(line({col: col for col in columns}), file=out)
    print("  ".join("-" * widths[col] for col in columns), file=out)
    for row in rows:
        print(line(row), file=out)
