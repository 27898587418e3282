"""The chat-model layer's public API: provider choice, argument checks, and
how its errors reach API clients."""

import pytest

from aiplatform import llm
from aiplatform.api.errors import exception_handler
from aiplatform.errors import InvalidInput, UpstreamTimeout, UpstreamUnavailable

QUESTION = [{"role": "user", "content": "What is stored?"}]


class TestProviderName:
    def test_defaults_to_the_setting(self, settings):
        settings.LLM_PROVIDER = "local"
        assert llm.provider_name() == "local"
        settings.LLM_PROVIDER = "openai"
        assert llm.provider_name() == "openai"

    def test_explicit_provider_wins(self, settings):
        settings.LLM_PROVIDER = "openai"
        assert llm.provider_name("local") == "local"

    def test_unknown_provider_argument_is_a_bad_request(self):
        with pytest.raises(llm.LLMBadRequest) as caught:
            llm.complete(QUESTION, provider="nope")
        assert caught.value.field == "provider"
        assert "local, openai" in caught.value.message

    def test_unknown_provider_setting_is_a_configuration_problem(self, settings):
        settings.LLM_PROVIDER = "nope"
        with pytest.raises(llm.LLMUnavailable, match="LLM_PROVIDER"):
            llm.provider_name()


@pytest.mark.parametrize(
    "messages",
    [
        [],
        "hello",
        None,
        ["hello"],
        [{"role": "robot", "content": "hi"}],
        [{"role": "user", "content": 5}],
        [{"role": "user"}],
    ],
    ids=["empty", "string", "none", "not-a-dict", "bad-role", "non-text", "no-content"],
)
@pytest.mark.parametrize("provider", ["local", "openai"])
def test_malformed_messages_are_rejected_before_any_call(messages, provider):
    with pytest.raises(llm.LLMBadRequest) as caught:
        llm.complete(messages, provider=provider)
    assert caught.value.field == "messages"
    assert caught.value.status_code == 400
    assert caught.value.code == "llm_bad_request"


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_tokens", 0), ("max_tokens", 1.5), ("temperature", 3), ("temperature", "hot"), ("timeout", 0)],
)
def test_impossible_options_are_rejected(option, value):
    with pytest.raises(llm.LLMBadRequest) as caught:
        llm.complete(QUESTION, provider="local", **{option: value})
    assert caught.value.field == option


def test_stream_and_astream_check_arguments_when_called():
    with pytest.raises(llm.LLMBadRequest):
        llm.stream([], provider="local")
    with pytest.raises(llm.LLMBadRequest):
        llm.astream([], provider="local")


@pytest.mark.parametrize(
    ("error", "base", "status", "code"),
    [
        (llm.LLMTimeout, UpstreamTimeout, 504, "llm_timeout"),
        (llm.LLMUnavailable, UpstreamUnavailable, 503, "llm_unavailable"),
        (llm.LLMBadRequest, InvalidInput, 400, "llm_bad_request"),
    ],
)
def test_errors_are_domain_errors_with_their_status(error, base, status, code):
    exc = error("The local model failed.", extra={"upstream_status": 500})
    assert isinstance(exc, base)
    assert isinstance(exc, llm.LLMError)
    assert (exc.status_code, exc.code) == (status, code)

    response = exception_handler(exc, {})
    assert response.status_code == status
    assert response.data["error"]["code"] == code
    assert response.data["error"]["upstream_status"] == 500


def test_local_provider_is_the_default(settings):
    settings.LLM_PROVIDER = "local"
    completion = llm.complete(QUESTION)
    assert completion.provider == "local"
    assert isinstance(completion, llm.Completion)
