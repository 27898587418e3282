"""A small OpenAI-compatible HTTP server for tests (and for trying the app by
hand: `python -m tests.support.openai_server --port 8081`).

The request's `model` picks the behaviour, so each call chooses its own:

    fail-<status>     that HTTP error with an OpenAI-style body (fail-500, fail-400,
                      fail-401, fail-404, fail-429, ...); 429/5xx ask for a 10 ms retry delay
    slow              waits `slow_seconds` before answering; a stream sends one chunk, then stalls
    long-stream       a stream of 100 words, `long_delay` seconds apart
    malformed-stream  a chunk that is not JSON in the middle of the stream
    cut-stream        the connection closes in the middle of the stream
    no-finish         a stream that ends without a finish_reason
    bad-json          a 200 answer whose body is not JSON
    anything else     the answer `reply`, or "Echo: <last user message>"

`requests` records every request; `stream_disconnects` counts streams the
client closed before the end.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import math
import random
import re
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

_ERRORS = {
    400: ("invalid_request_error", "context_length_exceeded", "This model's maximum context length is 8192 tokens."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Country not supported."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached, please retry later."),
}
_DISCONNECTED = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


def embedding_for(text: str, dimensions: int) -> list[float]:
    """The deterministic unit vector the server returns for `text`."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    vector = [rng.gauss(0, 1) for _ in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked streams and keep-alive, like real servers
    timeout = 5  # idle keep-alive connections must not hold threads for long
    disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms delayed-ACK stalls
    server: _HTTPServer

    def log_message(self, format, *args):
        pass  # quiet in test output

    def handle(self):
        # A client dropping a kept-alive connection is normal, not an error to print.
        with contextlib.suppress(_DISCONNECTED):
            super().handle()

    # -- plumbing ---------------------------------------------------------
    def _record(self) -> Any:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(
                RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
        return body

    def _send(self, status: int, payload: Any, headers: dict | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int) -> None:
        kind, code, message = _ERRORS.get(status, ("server_error", None, "The server had an error."))
        # A short retry delay keeps the SDK's retry tests fast.
        headers = {"retry-after-ms": "10"} if status == 429 or status >= 500 else None
        self._send(status, {"error": {"message": message, "type": kind, "param": None, "code": code}}, headers)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))

    def _event(self, payload: Any) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        self._chunk(f"data: {text}\n\n".encode())

    # -- routes -----------------------------------------------------------
    def do_GET(self):
        self._record()
        if self.path.rstrip("/") == "/v1/models":
            models = ["test-model", "test-embedding"]
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "tests"} for m in models]
            return self._send(200, {"object": "list", "data": data})
        return self._error(404)

    def do_POST(self):
        try:
            self._post()
        except _DISCONNECTED:
            self.close_connection = True  # the client gave up (e.g. timed out); nothing to answer

    def _post(self):
        body = self._record()
        if not isinstance(body, dict):
            return self._error(400)
        model = str(body.get("model", ""))
        failure = re.fullmatch(r"fail-(\d{3})", model)
        if failure:
            return self._error(int(failure.group(1)))
        if self.path == "/v1/chat/completions":
            return self._chat(body, model)
        if self.path == "/v1/embeddings":
            return self._embeddings(body, model)
        return self._error(404)

    def _chat(self, body: dict, model: str) -> None:
        owner = self.server.owner
        messages = body.get("messages") or []
        question = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
        words = _words(owner.reply if owner.reply is not None else f"Echo: {question}")
        if model == "long-stream":
            words = [f"word{i} " for i in range(100)]
        finish_reason = "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if limit and len(words) > limit:
            words, finish_reason = [*words[: limit - 1], words[limit - 1].rstrip()], "length"
        usage = {
            "prompt_tokens": sum(len(str(m.get("content", "")).split()) for m in messages),
            "completion_tokens": len(words),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        base = {"id": f"chatcmpl-{len(owner.requests)}", "created": int(time.time()), "model": model}
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return self._stream(base, model, words, finish_reason, usage if include_usage else None)
        if model == "slow" and owner.stopping.wait(owner.slow_seconds):
            return None
        if model == "bad-json":
            return self._send(200, b"{not json")
        message = {"role": "assistant", "content": "".join(words)}
        choice = {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}
        return self._send(200, {**base, "object": "chat.completion", "choices": [choice], "usage": usage})

    def _stream(self, base: dict, model: str, words: list[str], finish_reason: str, usage: dict | None) -> None:
        owner = self.server.owner
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

        def chunk(delta: dict, reason: str | None = None) -> dict:
            choice = {"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}
            return {**base, "object": "chat.completion.chunk", "choices": [choice]}

        try:
            self._event(chunk({"role": "assistant", "content": ""}))
            for index, word in enumerate(words):
                if index == 1 and model == "slow" and owner.stopping.wait(owner.slow_seconds):
                    return
                if index == 1 and model == "malformed-stream":
                    self._event("{not json")
                if index == 2 and model == "cut-stream":
                    self.close_connection = True  # no terminating chunk: the body is incomplete
                    return
                delay = owner.long_delay if model == "long-stream" else owner.chunk_delay
                if index and delay and owner.stopping.wait(delay):
                    return
                self._event(chunk({"content": word}))
            if model != "no-finish":
                self._event(chunk({}, finish_reason))
            if usage is not None:
                self._event({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
            self._event("[DONE]")
            self._chunk(b"")
        except _DISCONNECTED:
            self.close_connection = True
            with owner.lock:
                owner.stream_disconnects += 1

    def _embeddings(self, body: dict, model: str) -> None:
        owner = self.server.owner
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        dimensions = int(body.get("dimensions") or owner.embedding_dim)
        data = []
        for index, text in enumerate(texts):
            vector: Any = embedding_for(str(text), dimensions)
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(len(str(text).split()) for text in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        self._send(200, {"object": "list", "data": data, "model": model, "usage": usage})


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: OpenAICompatibleServer


class OpenAICompatibleServer:
    """The server on 127.0.0.1; use as a context manager, or start()/stop()."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, embedding_dim: int = 64):
        self.host, self.port = host, port
        self.embedding_dim = embedding_dim
        self.reply: str | None = None  # fixed answer instead of the echo
        self.slow_seconds = 3.0
        self.long_delay = 0.02
        self.chunk_delay = 0.0  # pause between chunks of every stream
        self.requests: list[RecordedRequest] = []
        self.stream_disconnects = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def settings_for(self, *, api_key: str = "sk-test", max_retries: int = 0, timeout: float = 5.0) -> dict:
        """Django settings that point the openai provider at this server."""
        return {
            "LLM_PROVIDER": "openai",
            "OPENAI_BASE_URL": self.base_url,
            "OPENAI_API_KEY": api_key,
            "OPENAI_MAX_RETRIES": max_retries,
            "OPENAI_TIMEOUT": timeout,
        }

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def wait_for_disconnects(self, count: int = 1, timeout: float = 2.0) -> bool:
        """Wait until `count` streams were closed early by the client."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stream_disconnects >= count:
                return True
            time.sleep(0.01)
        return self.stream_disconnects >= count

    def start(self) -> OpenAICompatibleServer:
        self._httpd = _HTTPServer((self.host, self.port), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes handlers that are stalling on purpose
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> OpenAICompatibleServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


@pytest.fixture
def openai_server():
    """A running OpenAICompatibleServer, stopped after the test."""
    with OpenAICompatibleServer() as server:
        yield server


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI-compatible API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    server = OpenAICompatibleServer(host=args.host, port=args.port).start()
    print(f"OPENAI_BASE_URL={server.base_url}  (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
