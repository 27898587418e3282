"""Foundation benchmark: the bare probe against the authenticated API.

    .venv/bin/python -m bench.platform_http [--concurrency 8] [--duration 10] [--workers 2] [--json PATH]

GET /healthz is a plain Django view (no authentication, no database): it is
the floor the stack (gunicorn, uvicorn, Django's ASGI handler and middleware)
sets. GET /api/me/ adds DRF, an authentication (an API key or a JWT, each one
database read) and throttling. The ratio of the two is what the platform's
API layer costs per request.
"""

import argparse
import http.client
import json
import os
import platform
import secrets
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from bench.harness import Result, Server, load, print_table, start_server

USERNAME = "bench"
# Cores' worth of CPU used by neither the client nor the server above which a run is called disturbed.
OTHER_CPU_WARNING = 0.25


def request_json(server: Server, method: str, path: str, *, headers=None, payload=None) -> tuple[int, dict]:
    port = urlsplit(server.base_url).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = json.dumps(payload) if payload is not None else None
        conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def credentials(server: Server) -> tuple[str, str]:
    """Create the bench user, a `service` API key acting as it, and a JWT; return (api_key, access token)."""
    password = secrets.token_urlsafe(16)
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({USERNAME!r}, password={password!r})",
    )
    api_key = server.manage("create_api_key", "--name", "bench", "--scope", "service", "--owner", USERNAME)
    api_key = api_key.strip().splitlines()[-1].strip()
    status, token = request_json(
        server, "POST", "/api/auth/token/", payload={"username": USERNAME, "password": password}
    )
    if status != 200 or "access" not in token:
        raise RuntimeError(f"POST /api/auth/token/ answered {status}: {token}")
    return api_key, token["access"]


def check(server: Server, headers: dict[str, str], authenticated_by: str) -> None:
    """One request before the load: a wrong set-up must fail here, not show up as a fast stream of 401s."""
    status, body = request_json(server, "GET", "/api/me/", headers=headers)
    if status != 200 or body.get("authenticated_by") != authenticated_by:
        raise RuntimeError(f"GET /api/me/ with {authenticated_by} answered {status}: {body}")


def machine(args: argparse.Namespace) -> dict[str, object]:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    cpu_model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    versions = {name: metadata.version(name) for name in ("django", "djangorestframework", "gunicorn", "uvicorn")}
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu_model,
        "os": platform.platform(),
        "python": platform.python_version(),
        "server_workers": args.workers,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        **versions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per endpoint (default 10)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, WEB_CONCURRENCY (default 2)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures to this file")
    args = parser.parse_args(argv)

    facts = machine(args)
    print("machine: " + ", ".join(f"{key}={value}" for key, value in facts.items()), flush=True)
    # The access token must outlive the longest run someone may ask for.
    with start_server(env={"JWT_ACCESS_MINUTES": "600"}, workers=args.workers) as server:
        api_key, jwt = credentials(server)
        cases = [
            ("/healthz", "/healthz", {}),
            ("/api/me/ (Api-Key)", "/api/me/", {"Authorization": f"Api-Key {api_key}"}),
            ("/api/me/ (JWT)", "/api/me/", {"Authorization": f"Bearer {jwt}"}),
        ]
        check(server, cases[1][2], "api_key")
        check(server, cases[2][2], "jwt")
        results: list[Result] = []
        for name, path, headers in cases:
            print(f"loading {name} for {args.warmup:g} + {args.duration:g} s ...", flush=True)
            results.append(
                load(
                    server.base_url + path,
                    headers=headers,
                    concurrency=args.concurrency,
                    duration=args.duration,
                    warmup=args.warmup,
                    name=name,
                    server=server,
                )
            )
        server_log = server.log()

    print()
    print_table([result.row() for result in results])
    healthz = results[0]
    ratios = {
        result.name: {
            "rps_ratio": result.rps / healthz.rps,
            "p50_ratio": result.p50_ms / healthz.p50_ms,
            "server_cpu_ratio": (result.server_cpu_ms or 0) / (healthz.server_cpu_ms or float("nan")),
        }
        for result in results[1:]
    }
    print()
    for name, ratio in ratios.items():
        print(
            f"{name}: {ratio['rps_ratio']:.2f} x the req/s of /healthz, p50 latency {ratio['p50_ratio']:.2f} x, "
            f"server CPU per request {ratio['server_cpu_ratio']:.2f} x",
        )
    print(
        "client / server / box CPU: cores' worth of CPU used in the measured window by this process (the client), "
        f"by gunicorn (master and workers), by the whole machine ({facts['cores']} cores)"
    )
    for result in results:
        if result.box_cpu is not None and result.server_cpu is not None:
            other = result.box_cpu - result.server_cpu - result.client_cpu
            if other > OTHER_CPU_WARNING:
                print(f"{result.name}: {other:.2f} cores went to other processes meanwhile; figures may be disturbed")
        if result.errors:
            print(f"{result.name}: {result.errors} errors {result.error_kinds}")
    problems = [line for line in server_log.splitlines() if "Traceback" in line or " ERROR " in line]
    if problems:
        print(f"server log has {len(problems)} error lines, e.g. {problems[0]}")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        figures = {
            "machine": facts,
            "results": [{**vars(result), "server_cpu_ms": result.server_cpu_ms} for result in results],
            "ratios_to_healthz": ratios,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 1 if any(result.errors for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
