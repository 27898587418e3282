"""Streaming through the production server (gunicorn + uvicorn workers): the
answer arrives token by token instead of all at the end, a client that hangs
up stops the upstream call and leaves an `interrupted` log, and an export is
streamed. Django's ASGI handler would buffer a plain generator; these tests
fail if that ever happens again (aiplatform/streaming.py)."""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx
import pytest

from conversations.models import ConversationLog
from tests.conftest import ROOT, database_url_for_subprocess

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def production_server(env: dict):
    port = _free_port()
    full_env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocess(),
        "DJANGO_SECRET_KEY": "streaming-test-secret-key-" + "x" * 30,
        "DJANGO_DEBUG": "false",
        "DJANGO_READ_DOTENV": "false",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "warning",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "aiplatform.asgi:application", "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise AssertionError(process.stdout.read().decode(errors="replace"))
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    return predicate()


def test_tokens_stream_and_hanging_up_stops_upstream(openai_server, make_api_key, tmp_path):
    _key, secret = make_api_key(["service"])
    env = {
        **{name: str(value) for name, value in openai_server.settings_for().items()},
        "OPENAI_MODEL": "long-stream",  # 100 words, 20 ms apart: two seconds in all
        "VECTOR_INDEX_DIR": str(tmp_path / "vectors"),
    }
    with production_server(env) as base, httpx.Client(base_url=base, timeout=10) as client:
        with client.stream(
            "POST", "/api/rag-chat", json={"question": "길게", "stream": True}, headers={"X-API-Key": secret}
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            deltas = 0
            for line in response.iter_lines():
                if line == "event: delta":
                    deltas += 1
                    if deltas == 5:
                        break
        # Leaving the block closed the connection in the middle of the answer.
        # Had the server buffered the stream, the whole answer would have been
        # generated before the first byte left: no early upstream disconnect,
        # and a `completed` log.
        assert openai_server.wait_for_disconnects(1, timeout=30)
        log = _wait_for(lambda: ConversationLog.objects.filter(status="interrupted").first())
        assert log is not None and log.streamed
        assert 0 < len(log.answer.split()) < 100


def test_export_is_served_through_asgi(make_api_key, make_log, tmp_path):
    for i in range(30):
        make_log(user_id=f"user-{i}")
    _key, secret = make_api_key(["service"])
    with production_server({"VECTOR_INDEX_DIR": str(tmp_path / "vectors")}) as base:
        response = httpx.get(f"{base}/api/conversation/logs/export/jsonl", headers={"X-API-Key": secret}, timeout=10)

    assert response.status_code == 200
    assert len(response.text.splitlines()) == 30
