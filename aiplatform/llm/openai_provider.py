"""The `openai` provider: OpenAI or any OpenAI-compatible server (vLLM,
Ollama, LM Studio) through the official SDK's Chat Completions API.

Settings are read at call time; clients are cached per configuration, so a
changed setting takes effect on the next call.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from functools import partial

import openai
from django.conf import settings

from .base import (
    AsyncChatStream,
    ChatMessage,
    ChatStream,
    Completion,
    LLMBadRequest,
    LLMError,
    LLMTimeout,
    LLMUnavailable,
    StreamMeta,
)

PROVIDER = "openai"
# Failures the SDK can raise, plus ValueError for a chunk that is not JSON.
_FAILURES = (openai.OpenAIError, ValueError)
_MAX_CACHED = 16


@dataclass(frozen=True)
class _Config:
    api_key: str = field(repr=False)
    base_url: str | None
    read_timeout: float
    connect_timeout: float
    max_retries: int

    @property
    def where(self) -> str:
        return self.base_url or "api.openai.com"


_lock = threading.Lock()
_clients: dict[_Config, openai.OpenAI] = {}
# Async connections belong to the event loop that opened them, so async
# clients are kept per loop (a client refers to its loop, so a weak mapping
# would never let go) and forgotten once their loop is closed.
_async_clients: dict[asyncio.AbstractEventLoop, dict[_Config, openai.AsyncOpenAI]] = {}


def _config() -> _Config:
    if not settings.OPENAI_API_KEY and not settings.OPENAI_BASE_URL:
        raise LLMUnavailable(
            "The openai provider is selected but OPENAI_API_KEY is not set. Set OPENAI_API_KEY "
            "(or OPENAI_BASE_URL for a compatible server that needs no key), or use LLM_PROVIDER=local."
        )
    return _Config(
        # Compatible servers often need no key, but the SDK insists on one.
        api_key=settings.OPENAI_API_KEY or "not-needed",
        base_url=settings.OPENAI_BASE_URL,
        read_timeout=float(settings.OPENAI_TIMEOUT),
        connect_timeout=float(settings.OPENAI_CONNECT_TIMEOUT),
        max_retries=int(settings.OPENAI_MAX_RETRIES),
    )


def _client_kwargs(config: _Config) -> dict:
    return {
        "api_key": config.api_key,
        "base_url": config.base_url,
        "timeout": openai.Timeout(config.read_timeout, connect=config.connect_timeout),
        "max_retries": config.max_retries,
    }


def _cached(cache: dict, config: _Config, factory):
    client = cache.get(config)
    if client is None:
        if len(cache) >= _MAX_CACHED:
            # Dropped, not closed: a call in another thread may still use it.
            cache.pop(next(iter(cache)))
        client = cache[config] = factory(**_client_kwargs(config))
    return client


def _client(config: _Config) -> openai.OpenAI:
    with _lock:
        return _cached(_clients, config, openai.OpenAI)


def _async_client(config: _Config) -> openai.AsyncOpenAI:
    loop = asyncio.get_running_loop()
    with _lock:
        for closed in [other for other in _async_clients if other.is_closed()]:
            del _async_clients[closed]
        return _cached(_async_clients.setdefault(loop, {}), config, openai.AsyncOpenAI)


def default_model() -> str:
    return settings.OPENAI_MODEL


def _request(config: _Config, messages: list[ChatMessage], *, model, max_tokens, temperature, timeout) -> dict:
    kwargs = {"model": model, "messages": messages}
    # OpenAI's newer models refuse max_tokens; many compatible servers only know it.
    official = config.base_url is None or "api.openai.com" in config.base_url
    kwargs["max_completion_tokens" if official else "max_tokens"] = max_tokens
    if temperature is not None:
        kwargs["temperature"] = temperature
    if timeout is not None:
        kwargs["timeout"] = openai.Timeout(timeout, connect=config.connect_timeout)
    return kwargs


def _upstream_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or exc.message)[:500]


def _error(exc: Exception, *, config: _Config, model: str, seconds: float) -> LLMError:
    """Translate an SDK failure into the platform's LLM errors."""
    if isinstance(exc, openai.APITimeoutError):
        return LLMTimeout(f"The openai model {model!r} at {config.where} did not answer within {seconds:g} seconds.")
    if isinstance(exc, openai.APIConnectionError):
        return LLMUnavailable(
            f"The openai provider at {config.where} could not be reached for model {model!r}, "
            "or the connection broke before the answer was complete."
        )
    if isinstance(exc, openai.APIStatusError):
        status, detail = exc.status_code, _upstream_message(exc)
        extra = {"upstream_status": status}
        if status in (401, 403):
            return LLMUnavailable(
                f"The openai provider at {config.where} rejected the configured credentials (HTTP {status}) "
                f"for model {model!r}; check OPENAI_API_KEY.",
                extra=extra,
            )
        if status == 429:
            return LLMUnavailable(f"The openai provider is rate limiting model {model!r}: {detail}", extra=extra)
        if status >= 500:
            return LLMUnavailable(
                f"The openai provider failed to answer for model {model!r} (HTTP {status}): {detail}", extra=extra
            )
        return LLMBadRequest(
            f"The openai provider rejected the request for model {model!r} (HTTP {status}): {detail}", extra=extra
        )
    return _malformed(config, model)


def _malformed(config: _Config, model: str) -> LLMUnavailable:
    return LLMUnavailable(f"The openai provider at {config.where} sent a malformed response for model {model!r}.")


def _completion(response, *, config: _Config, model: str, started: float) -> Completion:
    choices = getattr(response, "choices", None)
    if not choices:
        raise _malformed(config, model)
    message = choices[0].message
    usage = getattr(response, "usage", None)
    return Completion(
        text=(message.content if message else None) or "",
        provider=PROVIDER,
        model=getattr(response, "model", None) or model,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        latency_ms=(time.perf_counter() - started) * 1000,
        finish_reason=choices[0].finish_reason,
    )


def _absorb(chunk, meta: StreamMeta) -> str:
    """Record what one chunk says about the answer; return its text delta."""
    if getattr(chunk, "model", None):
        meta.model = chunk.model
    usage = getattr(chunk, "usage", None)
    if usage:
        meta.prompt_tokens, meta.completion_tokens = usage.prompt_tokens, usage.completion_tokens
    choices = getattr(chunk, "choices", None)
    if not choices:
        return ""
    if choices[0].finish_reason:
        meta.finish_reason = choices[0].finish_reason
    delta = choices[0].delta
    return (delta.content if delta else None) or ""


def _interrupted(config: _Config, model: str) -> LLMUnavailable:
    # Without a finish_reason the text may be cut anywhere; don't pass it off as an answer.
    return LLMUnavailable(f"The openai provider at {config.where} ended the stream for model {model!r} too early.")


def _deltas(sdk_stream, meta: StreamMeta, fail, interrupted):
    try:
        for chunk in sdk_stream:
            yield _absorb(chunk, meta)
    except _FAILURES as exc:
        raise fail(exc) from exc
    finally:
        sdk_stream.close()
    if meta.finish_reason is None:
        raise interrupted


async def _adeltas(sdk_stream, meta: StreamMeta, fail, interrupted):
    try:
        async for chunk in sdk_stream:
            yield _absorb(chunk, meta)
    except _FAILURES as exc:
        raise fail(exc) from exc
    finally:
        await sdk_stream.close()
    if meta.finish_reason is None:
        raise interrupted


def complete(messages: list[ChatMessage], *, model, max_tokens, temperature, timeout) -> Completion:
    """One Chat Completions call; the whole answer at once."""
    config, model = _config(), model or settings.OPENAI_MODEL
    request = _request(config, messages, model=model, max_tokens=max_tokens, temperature=temperature, timeout=timeout)
    started = time.perf_counter()
    try:
        response = _client(config).chat.completions.create(**request)
    except _FAILURES as exc:
        raise _error(exc, config=config, model=model, seconds=timeout or config.read_timeout) from exc
    return _completion(response, config=config, model=model, started=started)


async def acomplete(messages: list[ChatMessage], *, model, max_tokens, temperature, timeout) -> Completion:
    """Async twin of complete()."""
    config, model = _config(), model or settings.OPENAI_MODEL
    request = _request(config, messages, model=model, max_tokens=max_tokens, temperature=temperature, timeout=timeout)
    started = time.perf_counter()
    try:
        response = await _async_client(config).chat.completions.create(**request)
    except _FAILURES as exc:
        raise _error(exc, config=config, model=model, seconds=timeout or config.read_timeout) from exc
    return _completion(response, config=config, model=model, started=started)


def _stream_request(config, messages, **options) -> dict:
    # include_usage makes the server send a last chunk with the token counts.
    return {**_request(config, messages, **options), "stream": True, "stream_options": {"include_usage": True}}


def stream(messages: list[ChatMessage], *, model, max_tokens, temperature, timeout) -> ChatStream:
    """Start a streamed call; the request is sent before this returns."""
    config, model = _config(), model or settings.OPENAI_MODEL
    fail = partial(_error, config=config, model=model, seconds=timeout or config.read_timeout)
    request = _stream_request(
        config, messages, model=model, max_tokens=max_tokens, temperature=temperature, timeout=timeout
    )
    started = time.perf_counter()
    try:
        sdk_stream = _client(config).chat.completions.create(**request)
    except _FAILURES as exc:
        raise fail(exc) from exc
    meta = StreamMeta(model=model)
    deltas = _deltas(sdk_stream, meta, fail, _interrupted(config, model))
    return ChatStream(deltas, provider=PROVIDER, meta=meta, started=started, close_upstream=sdk_stream.close)


def astream(messages: list[ChatMessage], *, model, max_tokens, temperature, timeout) -> AsyncChatStream:
    """Async twin of stream(); the request is sent on `async with` or the first iteration."""
    config, model = _config(), model or settings.OPENAI_MODEL
    fail = partial(_error, config=config, model=model, seconds=timeout or config.read_timeout)
    request = _stream_request(
        config, messages, model=model, max_tokens=max_tokens, temperature=temperature, timeout=timeout
    )

    async def opener():
        try:
            sdk_stream = await _async_client(config).chat.completions.create(**request)
        except _FAILURES as exc:
            raise fail(exc) from exc
        meta = StreamMeta(model=model)
        return _adeltas(sdk_stream, meta, fail, _interrupted(config, model)), meta, sdk_stream.close

    return AsyncChatStream(opener, provider=PROVIDER, model=model)


def embed_texts(texts: list[str], *, model: str) -> list[list[float]]:
    """Embed texts with the configured client; one vector per text, in order."""
    if not texts:
        return []
    config = _config()
    try:
        response = _client(config).embeddings.create(model=model, input=texts, encoding_format="float")
        data = sorted(response.data, key=lambda item: item.index)
    except _FAILURES as exc:
        raise _error(exc, config=config, model=model, seconds=config.read_timeout) from exc
    except (AttributeError, TypeError) as exc:
        raise _malformed(config, model) from exc
    if len(data) != len(texts):
        raise _malformed(config, model)
    return [list(item.embedding) for item in data]
