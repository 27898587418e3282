"""Types, errors and the stream wrappers shared by every chat provider.

Providers turn their own failures into the errors below; the errors derive
from aiplatform.errors, so the API maps them to 400/503/504 without knowing
about chat models.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Literal, TypedDict

from aiplatform.errors import DomainError, InvalidInput, UpstreamTimeout, UpstreamUnavailable

ROLES = ("system", "user", "assistant")


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Completion:
    text: str
    provider: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float
    finish_reason: str | None


class LLMError(DomainError):
    """Common base so callers can catch every chat-model failure at once.

    `provider` and `model` name what was tried (filled in by llm.complete(),
    llm.stream() and the streams), so that a caller can record the failure
    against the model that failed."""

    provider = ""
    model = ""

    def tried(self, *, provider: str, model: str) -> LLMError:
        """Fill in what was tried, unless a more precise layer already has."""
        self.provider = self.provider or provider
        self.model = self.model or model or ""
        return self


class LLMTimeout(LLMError, UpstreamTimeout):
    code = "llm_timeout"


class LLMUnavailable(LLMError, UpstreamUnavailable):
    code = "llm_unavailable"


class LLMBadRequest(LLMError, InvalidInput):
    code = "llm_bad_request"


def validate_messages(messages) -> list[ChatMessage]:
    """Check the shape of a conversation before any provider sees it."""
    if not isinstance(messages, list) or not messages:
        raise LLMBadRequest("messages must be a non-empty list of chat messages.", field="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise LLMBadRequest(f"Message {index} must be an object with role and content.", field="messages")
        if message.get("role") not in ROLES:
            raise LLMBadRequest(
                f"Message {index} has role {message.get('role')!r}; use one of: {', '.join(ROLES)}.",
                field="messages",
            )
        if not isinstance(message.get("content"), str):
            raise LLMBadRequest(f"Message {index} must have text content.", field="messages")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def validate_options(*, max_tokens: int | None, temperature: float | None, timeout: float | None) -> None:
    """Reject option values no provider could honour."""
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise LLMBadRequest("max_tokens must be a positive integer.", field="max_tokens")
    if temperature is not None and not (isinstance(temperature, int | float) and 0 <= temperature <= 2):
        raise LLMBadRequest("temperature must be a number between 0 and 2.", field="temperature")
    if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
        raise LLMBadRequest("timeout must be a positive number of seconds.", field="timeout")


@dataclass
class StreamMeta:
    """What a provider learns while streaming, besides the text."""

    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None


class ChatStream:
    """Iterate to get text deltas; `.result` is the Completion once the
    iteration has ended normally. Errors before the first byte are raised by
    `llm.stream()` itself, errors mid-stream by the iteration."""

    def __init__(
        self,
        deltas: Iterator[str],
        *,
        provider: str,
        meta: StreamMeta,
        started: float,
        close_upstream: Callable[[], None] | None = None,
    ):
        self._deltas = deltas
        self._provider = provider
        self._meta = meta
        self._started = started
        self._close_upstream = close_upstream
        self._parts: list[str] = []
        self._closed = False
        self.result: Completion | None = None

    @property
    def text_so_far(self) -> str:
        return "".join(self._parts)

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def model(self) -> str:
        """The model answering (as the upstream names it once it has said so)."""
        return self._meta.model

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        while not self._closed:
            try:
                delta = next(self._deltas)
            except StopIteration:
                self.result = _completion(self._provider, self._meta, self.text_so_far, self._started)
                self.close()
                raise
            except BaseException as exc:
                stopped = self._closed
                self.close()
                if stopped and isinstance(exc, Exception):
                    # close() came from another thread while this one was reading:
                    # the broken response is the intended stop, not a failure.
                    raise StopIteration from None
                if isinstance(exc, LLMError):
                    exc.tried(provider=self._provider, model=self._meta.model)
                raise
            if delta:
                self._parts.append(delta)
                return delta
        raise StopIteration

    def close(self) -> None:
        """Stop the upstream call now (closes the HTTP response). Idempotent.

        Iteration then ends quietly. Called from another thread, the reader
        there wakes at the upstream's next byte or at the read timeout.
        """
        if self._closed:
            return
        self._closed = True
        # The upstream close comes first: it is safe from another thread,
        # while closing a generator that is running there is not.
        if self._close_upstream is not None:
            self._close_upstream()
        close = getattr(self._deltas, "close", None)
        if close is not None:
            # ValueError: the generator is running in another thread; the closed response ends it.
            with contextlib.suppress(ValueError):
                close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


# An opener starts the upstream call and returns the deltas and how to stop them.
AsyncOpener = Callable[[], Awaitable[tuple[AsyncIterator[str], StreamMeta, Callable[[], Awaitable[None]] | None]]]


class AsyncChatStream:
    """Async twin of ChatStream. The upstream call starts on `async with`
    (so errors before the first byte raise there) or on the first iteration."""

    def __init__(self, opener: AsyncOpener, *, provider: str, model: str = ""):
        self._opener = opener
        self._provider = provider
        self._model = model
        self._deltas: AsyncIterator[str] | None = None
        self._meta: StreamMeta | None = None
        self._close_upstream: Callable[[], Awaitable[None]] | None = None
        self._started = 0.0
        self._parts: list[str] = []
        self._closed = False
        self.result: Completion | None = None

    @property
    def text_so_far(self) -> str:
        return "".join(self._parts)

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def model(self) -> str:
        """The model answering (as the upstream names it once it has said so)."""
        return self._meta.model if self._meta is not None else self._model

    async def _open(self) -> None:
        if self._deltas is None and not self._closed:
            self._started = time.perf_counter()
            try:
                self._deltas, self._meta, self._close_upstream = await self._opener()
            except BaseException as exc:
                self._closed = True
                if isinstance(exc, LLMError):
                    exc.tried(provider=self._provider, model=self.model)
                raise

    def __aiter__(self) -> AsyncChatStream:
        return self

    async def __anext__(self) -> str:
        await self._open()
        while not self._closed:
            try:
                delta = await anext(self._deltas)
            except StopAsyncIteration:
                self.result = _completion(self._provider, self._meta, self.text_so_far, self._started)
                await self.aclose()
                raise
            except BaseException as exc:
                stopped = self._closed
                # The provider's generator has already released the response
                # on its way out; awaiting here could swallow a cancellation.
                self._closed = True
                if stopped and isinstance(exc, Exception):
                    raise StopAsyncIteration from None  # aclose() from another task
                if isinstance(exc, LLMError):
                    exc.tried(provider=self._provider, model=self.model)
                raise
            if delta:
                self._parts.append(delta)
                return delta
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop the upstream call now (closes the HTTP response). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._close_upstream is not None:
            await self._close_upstream()
        aclose = getattr(self._deltas, "aclose", None)
        if aclose is not None:
            # RuntimeError: another task is inside the generator; the closed response ends it.
            with contextlib.suppress(RuntimeError):
                await aclose()

    async def __aenter__(self) -> AsyncChatStream:
        await self._open()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()


def _completion(provider: str, meta: StreamMeta, text: str, started: float) -> Completion:
    return Completion(
        text=text,
        provider=provider,
        model=meta.model,
        prompt_tokens=meta.prompt_tokens,
        completion_tokens=meta.completion_tokens,
        latency_ms=(time.perf_counter() - started) * 1000,
        finish_reason=meta.finish_reason,
    )
