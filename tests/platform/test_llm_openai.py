"""The `openai` provider through the real SDK against the test server."""

import asyncio
import socket
import threading
import time

import pytest

from aiplatform import llm
from aiplatform.llm import openai_provider
from tests.support.openai_server import embedding_for

QUESTION = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "How are logs stored?"},
]
ANSWER = "Echo: How are logs stored?"


@pytest.fixture
def upstream(openai_server, settings):
    """The test server, with the openai provider pointed at it and retries off."""
    for name, value in openai_server.settings_for().items():
        setattr(settings, name, value)
    return openai_server


def collect(chunks) -> list[str]:
    with chunks:
        return list(chunks)


class TestComplete:
    def test_returns_the_answer_with_usage(self, upstream, settings):
        completion = llm.complete(QUESTION, model="test-model")
        assert completion.text == ANSWER
        assert completion.provider == "openai"
        assert completion.model == "test-model"
        assert (completion.prompt_tokens, completion.completion_tokens) == (6, 5)
        assert completion.finish_reason == "stop"
        assert completion.latency_ms > 0

        [request] = upstream.requests
        assert (request.method, request.path) == ("POST", "/v1/chat/completions")
        assert request.headers["authorization"] == "Bearer sk-test"
        assert request.body["messages"] == QUESTION
        assert request.body["max_tokens"] == settings.LLM_MAX_TOKENS
        assert "stream" not in request.body

    def test_model_and_key_come_from_settings_at_call_time(self, upstream, settings):
        settings.OPENAI_MODEL = "configured-model"
        assert llm.complete(QUESTION).model == "configured-model"
        settings.OPENAI_API_KEY = "sk-rotated"
        llm.complete(QUESTION)
        assert [r.headers["authorization"] for r in upstream.requests] == ["Bearer sk-test", "Bearer sk-rotated"]

    def test_per_call_options_are_sent(self, upstream):
        completion = llm.complete(QUESTION, model="test-model", max_tokens=2, temperature=0.2)
        assert completion.text == "Echo: How"
        assert completion.finish_reason == "length"
        assert upstream.requests[0].body["max_tokens"] == 2
        assert upstream.requests[0].body["temperature"] == 0.2

    def test_a_compatible_server_needs_no_key(self, upstream, settings):
        settings.OPENAI_API_KEY = ""
        assert llm.complete(QUESTION).text == ANSWER
        assert upstream.requests[0].headers["authorization"] == "Bearer not-needed"

    def test_openai_itself_gets_max_completion_tokens(self, settings):
        settings.OPENAI_BASE_URL = None
        settings.OPENAI_API_KEY = "sk-test"
        request = openai_provider._request(
            openai_provider._config(), QUESTION, model="gpt-x", max_tokens=10, temperature=None, timeout=None
        )
        assert request["max_completion_tokens"] == 10
        assert "max_tokens" not in request
        assert "temperature" not in request

    def test_acomplete(self, upstream):
        completion = asyncio.run(llm.acomplete(QUESTION))
        assert completion.text == ANSWER
        assert completion.completion_tokens == 5


class TestStream:
    def test_deltas_join_into_the_result_with_usage(self, upstream):
        chunks = llm.stream(QUESTION, model="test-model")
        deltas = collect(chunks)
        assert deltas == ["Echo: ", "How ", "are ", "logs ", "stored?"]
        assert chunks.result.text == "".join(deltas) == chunks.text_so_far == ANSWER
        assert (chunks.result.prompt_tokens, chunks.result.completion_tokens) == (6, 5)
        assert chunks.result.finish_reason == "stop"
        assert chunks.result.model == "test-model"
        assert upstream.requests[0].body["stream"] is True
        assert upstream.requests[0].body["stream_options"] == {"include_usage": True}

    def test_astream(self, upstream):
        async def run():
            async with llm.astream(QUESTION) as chunks:
                return [delta async for delta in chunks], chunks.result

        deltas, result = asyncio.run(run())
        assert "".join(deltas) == result.text == ANSWER
        assert result.completion_tokens == 5

    def test_close_in_the_middle_disconnects_from_the_server(self, upstream):
        chunks = llm.stream(QUESTION, model="long-stream")
        assert next(chunks) == "word0 "
        chunks.close()
        chunks.close()
        assert upstream.wait_for_disconnects(1)
        assert list(chunks) == []
        assert chunks.result is None
        assert chunks.text_so_far == "word0 "

    def test_close_from_another_thread_ends_the_iteration_quietly(self, upstream):
        chunks = llm.stream(QUESTION, model="long-stream")
        received, outcome = [], []

        def consume():
            try:
                received.extend(chunks)
                outcome.append("ended")
            except Exception as exc:
                outcome.append(exc)

        consumer = threading.Thread(target=consume)
        consumer.start()
        time.sleep(0.1)
        chunks.close()
        consumer.join(2)
        assert outcome == ["ended"]
        assert 0 < len(received) < 100
        assert upstream.wait_for_disconnects(1)

    def test_aclose_in_the_middle_disconnects_from_the_server(self, upstream):
        async def run():
            chunks = llm.astream(QUESTION, model="long-stream")
            first = await anext(chunks)
            await chunks.aclose()
            await chunks.aclose()
            return first, chunks

        first, chunks = asyncio.run(run())
        assert first == "word0 "
        assert upstream.wait_for_disconnects(1)
        assert chunks.result is None


def _raises(error, model, *, stream=False):
    with pytest.raises(error) as caught:
        if stream:
            collect(llm.stream(QUESTION, model=model))
        else:
            llm.complete(QUESTION, model=model)
    assert "Traceback" not in caught.value.message
    return caught.value


class TestErrors:
    @pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
    def test_upstream_500_is_unavailable(self, upstream, stream):
        error = _raises(llm.LLMUnavailable, "fail-500", stream=stream)
        assert error.status_code == 503
        assert error.extra == {"upstream_status": 500}
        assert "fail-500" in error.message
        assert len(upstream.requests) == 1

    def test_the_configured_retries_are_made(self, upstream, settings):
        settings.OPENAI_MAX_RETRIES = 1
        _raises(llm.LLMUnavailable, "fail-500")
        assert len(upstream.requests) == 2

    @pytest.mark.parametrize("status", [400, 404, 422])
    def test_upstream_4xx_is_a_bad_request_with_its_message(self, upstream, status):
        error = _raises(llm.LLMBadRequest, f"fail-{status}")
        assert error.status_code == 400
        assert error.extra == {"upstream_status": status}
        if status == 400:
            assert "maximum context length" in error.message

    def test_a_refused_stream_raises_before_the_first_delta(self, upstream):
        with pytest.raises(llm.LLMBadRequest):
            llm.stream(QUESTION, model="fail-400")

    @pytest.mark.parametrize("status", [401, 403])
    def test_rejected_credentials_are_a_configuration_problem(self, upstream, status):
        error = _raises(llm.LLMUnavailable, f"fail-{status}")
        assert "credentials" in error.message
        assert "OPENAI_API_KEY" in error.message

    def test_rate_limit_is_unavailable(self, upstream):
        assert _raises(llm.LLMUnavailable, "fail-429").extra == {"upstream_status": 429}

    def test_slow_answer_times_out(self, upstream, settings):
        settings.OPENAI_TIMEOUT = 0.5
        started = time.perf_counter()
        error = _raises(llm.LLMTimeout, "slow")
        assert time.perf_counter() - started < 2
        assert error.status_code == 504
        assert "0.5 seconds" in error.message

    def test_per_call_timeout_overrides_the_setting(self, upstream):
        started = time.perf_counter()
        with pytest.raises(llm.LLMTimeout):
            llm.complete(QUESTION, model="slow", timeout=0.3)
        assert time.perf_counter() - started < 1.5

    def test_stall_in_the_middle_of_a_stream_times_out(self, upstream, settings):
        settings.OPENAI_TIMEOUT = 0.5
        chunks = llm.stream(QUESTION, model="slow")
        started = time.perf_counter()
        with pytest.raises(llm.LLMTimeout):
            collect(chunks)
        assert time.perf_counter() - started < 2
        assert chunks.text_so_far == "Echo: "
        assert chunks.result is None

    def test_async_stall_times_out(self, upstream, settings):
        settings.OPENAI_TIMEOUT = 0.5

        async def run():
            async with llm.astream(QUESTION, model="slow") as chunks:
                return [delta async for delta in chunks]

        with pytest.raises(llm.LLMTimeout):
            asyncio.run(run())

    def test_malformed_chunk_is_unavailable(self, upstream):
        assert "malformed" in _raises(llm.LLMUnavailable, "malformed-stream", stream=True).message

    def test_non_json_body_is_unavailable(self, upstream):
        assert "malformed" in _raises(llm.LLMUnavailable, "bad-json").message

    def test_cut_stream_is_an_llm_error(self, upstream):
        _raises(llm.LLMError, "cut-stream", stream=True)

    def test_stream_without_finish_reason_is_not_passed_off_as_complete(self, upstream):
        assert "too early" in _raises(llm.LLMUnavailable, "no-finish", stream=True).message

    def test_async_errors_are_mapped_too(self, upstream):
        with pytest.raises(llm.LLMUnavailable):
            asyncio.run(llm.acomplete(QUESTION, model="fail-500"))

        async def refused_stream():
            async with llm.astream(QUESTION, model="fail-400"):
                pass

        with pytest.raises(llm.LLMBadRequest):
            asyncio.run(refused_stream())

    @pytest.mark.parametrize(
        ("model", "stream"),
        [("fail-500", False), ("fail-500", True), ("malformed-stream", True), ("no-finish", True)],
    )
    def test_an_error_names_the_provider_and_model_tried(self, upstream, model, stream):
        error = _raises(llm.LLMError, model, stream=stream)
        assert (error.provider, error.model) == ("openai", model)

    def test_an_error_names_the_configured_model_when_none_is_given(self, upstream, settings):
        settings.OPENAI_MODEL = "fail-500"
        with pytest.raises(llm.LLMUnavailable) as caught:
            llm.complete(QUESTION)
        assert (caught.value.provider, caught.value.model) == ("openai", "fail-500")
        assert llm.model_name() == "fail-500" and llm.model_name("local") == "extractive-v1"

    def test_async_errors_name_the_model_tried(self, upstream):
        async def refused_stream():
            async with llm.astream(QUESTION, model="fail-400"):
                pass

        async def malformed_stream():
            async with llm.astream(QUESTION, model="malformed-stream") as chunks:
                return [delta async for delta in chunks]

        for run, model in [
            (lambda: llm.acomplete(QUESTION, model="fail-500"), "fail-500"),
            (refused_stream, "fail-400"),
            (malformed_stream, "malformed-stream"),
        ]:
            with pytest.raises(llm.LLMError) as caught:
                asyncio.run(run())
            assert (caught.value.provider, caught.value.model) == ("openai", model)

    def test_unreachable_server_is_unavailable(self, settings):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        settings.LLM_PROVIDER = "openai"
        settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"
        settings.OPENAI_MAX_RETRIES = 0
        error = _raises(llm.LLMUnavailable, "test-model")
        assert "could not be reached" in error.message

    def test_openai_without_key_or_base_url_names_the_setting(self, settings, openai_server):
        settings.LLM_PROVIDER = "openai"
        settings.OPENAI_API_KEY = ""
        settings.OPENAI_BASE_URL = None
        for call in (llm.complete, llm.stream, llm.astream):
            with pytest.raises(llm.LLMUnavailable, match="OPENAI_API_KEY"):
                call(QUESTION)
        assert openai_server.requests == []


class TestEmbeddings:
    def test_vectors_have_the_server_dimension_in_order(self, upstream):
        vectors = openai_provider.embed_texts(["로그", "검색"], model="test-embedding")
        assert [len(v) for v in vectors] == [64, 64]
        assert vectors == [pytest.approx(embedding_for("로그", 64)), pytest.approx(embedding_for("검색", 64))]
        [request] = upstream.requests
        assert request.path == "/v1/embeddings"
        assert request.body["input"] == ["로그", "검색"]

    def test_dimension_follows_the_server(self, upstream):
        upstream.embedding_dim = 8
        assert len(openai_provider.embed_texts(["x"], model="test-embedding")[0]) == 8

    def test_no_texts_no_request(self, upstream):
        assert openai_provider.embed_texts([], model="test-embedding") == []
        assert upstream.requests == []

    def test_errors_are_mapped(self, upstream):
        with pytest.raises(llm.LLMUnavailable):
            openai_provider.embed_texts(["x"], model="fail-500")
