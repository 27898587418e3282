"""The platform's chat-model layer: one API over every provider.

    from aiplatform import llm

    answer = llm.complete([{"role": "user", "content": "..."}])
    with llm.stream(messages) as chunks:
        for delta in chunks:
            ...
    chunks.result  # the Completion, once the iteration has ended

`provider=None` means settings.LLM_PROVIDER: "local" (offline, extractive,
the default) or "openai" (OpenAI or any OpenAI-compatible server). Failures
are llm.LLMError subclasses, which the API maps to 400/503/504; their
`provider` and `model` name what was tried.
"""

import contextlib

from django.conf import settings

from . import local, openai_provider
from .base import (
    AsyncChatStream,
    ChatMessage,
    ChatStream,
    Completion,
    LLMBadRequest,
    LLMError,
    LLMTimeout,
    LLMUnavailable,
    validate_messages,
    validate_options,
)

__all__ = [
    "AsyncChatStream",
    "ChatMessage",
    "ChatStream",
    "Completion",
    "LLMBadRequest",
    "LLMError",
    "LLMTimeout",
    "LLMUnavailable",
    "acomplete",
    "astream",
    "complete",
    "model_name",
    "provider_name",
    "stream",
]

_PROVIDERS = {"local": local, "openai": openai_provider}


def provider_name(provider: str | None = None) -> str:
    """The provider a call with this `provider` argument would use."""
    if provider is None:
        name = settings.LLM_PROVIDER
        if name not in _PROVIDERS:
            # A bad setting is the operator's problem, not the caller's.
            raise LLMUnavailable(f"LLM_PROVIDER is {name!r}; set it to one of: {', '.join(_PROVIDERS)}.")
        return name
    if provider not in _PROVIDERS:
        raise LLMBadRequest(
            f"Unknown LLM provider {provider!r}; choose one of: {', '.join(_PROVIDERS)}.", field="provider"
        )
    return provider


def model_name(provider: str | None = None) -> str:
    """The model a call with this `provider` and no `model` would use."""
    return _PROVIDERS[provider_name(provider)].default_model()


@contextlib.contextmanager
def _trying(module, model: str | None):
    """Name the provider and model on any LLMError raised inside."""
    try:
        yield
    except LLMError as exc:
        exc.tried(provider=module.PROVIDER, model=model or module.default_model())
        raise


def _prepare(messages, provider, *, model, max_tokens, temperature, timeout):
    module = _PROVIDERS[provider_name(provider)]
    with _trying(module, model):
        validate_options(max_tokens=max_tokens, temperature=temperature, timeout=timeout)
        messages = validate_messages(messages)
    options = {
        "model": model,
        "max_tokens": max_tokens or settings.LLM_MAX_TOKENS,
        "temperature": temperature,
        "timeout": timeout,
    }
    return module, messages, options


def complete(
    messages: list[ChatMessage],
    *,
    provider: str | None = None,
    model: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    timeout: float | None = None,
) -> Completion:
    """Answer a conversation in one call.

    `model` defaults to the provider's configured model, `max_tokens` to
    settings.LLM_MAX_TOKENS, `timeout` (seconds of silence tolerated from
    the upstream) to settings.OPENAI_TIMEOUT.
    """
    module, messages, options = _prepare(
        messages, provider, model=model, max_tokens=max_tokens, temperature=temperature, timeout=timeout
    )
    with _trying(module, model):
        return module.complete(messages, **options)


def stream(
    messages: list[ChatMessage],
    *,
    provider: str | None = None,
    model: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    timeout: float | None = None,
) -> ChatStream:
    """Answer a conversation as text deltas; see ChatStream.

    The request is sent before this returns, so an upstream that refuses
    it raises here, before any delta.
    """
    module, messages, options = _prepare(
        messages, provider, model=model, max_tokens=max_tokens, temperature=temperature, timeout=timeout
    )
    with _trying(module, model):
        return module.stream(messages, **options)


async def acomplete(
    messages: list[ChatMessage],
    *,
    provider: str | None = None,
    model: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    timeout: float | None = None,
) -> Completion:
    """Async twin of complete()."""
    module, messages, options = _prepare(
        messages, provider, model=model, max_tokens=max_tokens, temperature=temperature, timeout=timeout
    )
    with _trying(module, model):
        return await module.acomplete(messages, **options)


def astream(
    messages: list[ChatMessage],
    *,
    provider: str | None = None,
    model: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    timeout: float | None = None,
) -> AsyncChatStream:
    """Async twin of stream(). Arguments are checked now; the request is sent
    on `async with` (where an upstream refusal raises) or the first iteration."""
    module, messages, options = _prepare(
        messages, provider, model=model, max_tokens=max_tokens, temperature=temperature, timeout=timeout
    )
    with _trying(module, model):
        return module.astream(messages, **options)
