"""Every time the conversation endpoints return is written in TIME_ZONE
(Asia/Seoul, +09:00), whatever path wrote it: the log rows, the chat
answer and its stream, the stats, the export, the documents and the tasks."""

import json
import re

from aiplatform import vectors
from conversations.models import VECTOR_COLLECTION

ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def _times(value, path="") -> dict[str, str]:
    """Every ISO date-time string in a JSON value, by its path."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _times(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for index, item in enumerate(value) for k, v in _times(item, f"{path}.{index}").items()}
    return {path: value} if isinstance(value, str) and ISO_TIME.match(value) else {}


def _assert_seoul(body, *, expected: int):
    times = _times(body)
    assert len(times) >= expected, times
    assert {path: text for path, text in times.items() if not text.endswith("+09:00")} == {}


def _sse(response) -> list[dict]:
    raw = b"".join(response.streaming_content).decode()
    return [json.loads(block.split("data: ", 1)[1]) for block in raw.strip().split("\n\n")]


def test_every_conversation_endpoint_answers_seoul_times(staff_client, knowledge_base, settings):
    assert settings.TIME_ZONE == "Asia/Seoul"  # the default, which the test relies on
    answer = staff_client.post("/api/rag-chat", {"question": "로그는 어디에 저장되나요?"}, format="json").json()
    _assert_seoul(answer, expected=1)
    log_id = answer["id"]
    rated = staff_client.post(f"/api/conversation/logs/{log_id}/feedback", {"rating": 1}, format="json").json()
    _assert_seoul(rated, expected=2)  # created_at, feedback_at

    streamed = _sse(staff_client.post("/api/rag-chat", {"question": "피드백", "stream": True}, format="json"))
    _assert_seoul(streamed[-1], expected=1)

    for params in ({}, {"offset": 1}, {"q": "로그"}):
        _assert_seoul(staff_client.get("/api/conversation/logs", params).json(), expected=1)
    _assert_seoul(staff_client.get(f"/api/conversation/logs/{log_id}").json(), expected=2)
    for params in ({}, {"q": "로그"}, {"date_from": "2000-01-01T00:00:00Z"}):
        body = staff_client.get("/api/conversation/stats", params).json()
        _assert_seoul(body, expected=1 if "q" in params else 0)
    export = b"".join(staff_client.get("/api/conversation/logs/export/jsonl").streaming_content).decode()
    for line in export.splitlines():
        _assert_seoul(json.loads(line), expected=1)

    documents = staff_client.get("/api/conversation/documents/").json()
    _assert_seoul(documents, expected=3)
    _assert_seoul(staff_client.get(f"/api/conversation/documents/{knowledge_base[0].pk}/").json(), expected=1)
    created = staff_client.post(
        "/api/conversation/documents/", {"title": "새 문서", "text": "본문입니다."}, format="json"
    ).json()
    _assert_seoul(created, expected=1)
    reindexed = staff_client.post("/api/conversation/documents/reindex/").json()
    _assert_seoul(reindexed, expected=1)
    info = vectors.get_index(VECTOR_COLLECTION).info()
    assert info["built_at"].endswith("+09:00") and info["updated_at"].endswith("+09:00")
