"""POST /api/rag-chat: retrieval, generation, the stored log, and what happens
when the chat model fails. The openai provider runs against the local
OpenAI-compatible test server (tests/support/openai_server.py)."""

import json

import pytest

from conversations.models import ConversationLog

URL = "/api/rag-chat"


def _sse(response) -> list[tuple[str, dict]]:
    raw = b"".join(response.streaming_content).decode()
    events = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_local_provider_answers_from_the_knowledge_base_and_stores_the_log(owner_client, owner, knowledge_base):
    response = owner_client.post(URL, {"question": "로그는 어디에 저장되나요?", "session_id": "s1"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert "저장" in body["answer"] and "[1]" in body["answer"]
    assert body["status"] == "completed"
    assert body["provider"] == "local" and body["model"] == "extractive-v1"
    assert body["sources"][0]["title"] == "저장 안내"
    assert body["sources"][0]["cited"] is True
    assert 0 < body["sources"][0]["score"] <= 1
    log = ConversationLog.objects.get(pk=body["id"])
    assert (log.account, log.user_id, log.session_id) == (owner, "owner", "s1")
    assert log.question == "로그는 어디에 저장되나요?"
    assert log.latency_ms >= log.retrieval_ms > 0
    assert log.completion_tokens > 0


def test_seed_request_shape_with_user_id_and_trailing_slash(owner_client, knowledge_base):
    response = owner_client.post(URL + "/", {"question": "How are logs exported?", "user_id": "guest"}, format="json")

    assert response.status_code == 200
    assert response.json()["user_id"] == "guest"
    assert "CSV" in response.json()["answer"]


def test_empty_knowledge_base_still_answers_and_logs(owner_client, db):
    response = owner_client.post(URL, {"question": "무엇이든 물어보세요"}, format="json")

    assert response.status_code == 200
    assert response.json()["sources"] == []
    assert ConversationLog.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({}, "question", "invalid"),
        ({"question": "   "}, "question", "required"),
        ({"question": "가" * 4001}, "question", "too_long"),
        ({"question": "ok", "top_k": 0}, "top_k", "invalid"),
        ({"question": "ok", "top_k": 21}, "top_k", "invalid"),
        ({"question": "ok", "user_id": "u" * 65}, "user_id", "too_long"),
        ({"question": "ok", "stream": "maybe"}, "stream", "invalid"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(owner_client, db, payload, field, code):
    response = owner_client.post(URL, payload, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["fields"]
    if code != "invalid":
        assert error["code"] == code
    assert ConversationLog.objects.count() == 0


def test_question_limit_is_named_in_the_message(owner_client, db, settings):
    settings.RAG_QUESTION_MAX_CHARS = 10

    response = owner_client.post(URL, {"question": "열한 글자가 넘는 질문입니다"}, format="json")

    assert response.status_code == 400
    assert "10" in response.json()["error"]["message"]


def test_openai_provider_answer_is_logged_with_tokens(owner_client, knowledge_base, openai_server, settings):
    for name, value in openai_server.settings_for().items():
        setattr(settings, name, value)
    settings.OPENAI_MODEL = "gpt-test"

    response = owner_client.post(URL, {"question": "피드백은 어떻게 하나요?"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["provider"] == "openai" and body["model"] == "gpt-test"
    assert body["answer"].startswith("Echo: 피드백은")
    assert body["prompt_tokens"] > 0 and body["completion_tokens"] > 0
    sent = openai_server.requests_to("/v1/chat/completions")[0].body["messages"]
    assert sent[0]["role"] == "system" and "[1]" in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "피드백은 어떻게 하나요?"}


@pytest.mark.parametrize(
    ("model", "status", "code"), [("fail-500", 503, "llm_unavailable"), ("slow", 504, "llm_timeout")]
)
def test_generation_failure_is_503_or_504_and_the_question_is_kept(
    owner_client, knowledge_base, openai_server, settings, model, status, code
):
    for name, value in openai_server.settings_for(timeout=0.5).items():
        setattr(settings, name, value)
    settings.OPENAI_MODEL = model

    response = owner_client.post(URL, {"question": "저장 기간은?", "user_id": "kim"}, format="json")

    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    log = ConversationLog.objects.get(pk=error["log_id"])
    assert (log.status, log.question, log.user_id, log.error_code) == ("failed", "저장 기간은?", "kim", code)
    assert log.error and log.answer == ""
    assert log.sources  # what was retrieved is kept too
    # The model that failed is recorded, as the error message names it.
    assert (log.provider, log.model) == ("openai", model)
    assert repr(model) in log.error
    listed = owner_client.get("/api/conversation/logs").json()["results"][0]
    assert (listed["provider"], listed["model"]) == ("openai", model)


def test_stream_sends_sources_deltas_and_done_then_stores_the_log(owner_client, knowledge_base):
    response = owner_client.post(URL, {"question": "로그는 어디에 저장되나요?", "stream": True}, format="json")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = _sse(response)
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "done" and "delta" in names
    text = "".join(data["text"] for name, data in events if name == "delta")
    done = events[-1][1]
    assert done["answer"] == text and done["status"] == "completed" and done["streamed"] is True
    assert ConversationLog.objects.get(pk=done["id"]).answer == text


def test_stream_cut_by_the_client_stops_upstream_and_keeps_the_partial_answer(
    owner_client, knowledge_base, openai_server, settings
):
    for name, value in openai_server.settings_for().items():
        setattr(settings, name, value)
    settings.OPENAI_MODEL = "long-stream"

    response = owner_client.post(URL, {"question": "길게 답해 주세요", "stream": True}, format="json")
    chunks = iter(response.streaming_content)
    received = [next(chunks) for _ in range(4)]  # sources + a few deltas
    # What a server does when the client goes away: close the response
    # iterator. (The test client's wrapper closes the response without closing
    # the test's own database connection.)
    response._iterator.close()

    assert b"event: delta" in received[-1]
    assert openai_server.wait_for_disconnects(1)
    log = ConversationLog.objects.get()
    assert log.status == "interrupted" and log.streamed
    assert 0 < len(log.answer.split()) < 100
    assert (log.provider, log.model) == ("openai", "long-stream")


def test_stream_failing_mid_way_sends_an_error_event_and_logs_failed(
    owner_client, knowledge_base, openai_server, settings
):
    for name, value in openai_server.settings_for().items():
        setattr(settings, name, value)
    settings.OPENAI_MODEL = "malformed-stream"

    events = _sse(owner_client.post(URL, {"question": "질문", "stream": True}, format="json"))

    name, data = events[-1]
    assert name == "error" and data["error"]["status"] == 503
    log = ConversationLog.objects.get(pk=data["id"])
    assert log.status == "failed" and log.error_code == "llm_unavailable"
    assert (log.provider, log.model) == ("openai", "malformed-stream")


def test_stream_that_cannot_start_is_a_plain_http_error(owner_client, knowledge_base, openai_server, settings):
    for name, value in openai_server.settings_for().items():
        setattr(settings, name, value)
    settings.OPENAI_MODEL = "fail-500"

    response = owner_client.post(URL, {"question": "질문", "stream": True}, format="json")

    assert response.status_code == 503
    log = ConversationLog.objects.get(pk=response.json()["error"]["log_id"])
    assert log.status == "failed" and log.streamed
    assert (log.provider, log.model) == ("openai", "fail-500")


def test_anonymous_cannot_chat(anon_client, db):
    assert anon_client.post(URL, {"question": "hi"}, format="json").status_code in (401, 403)
