"""`manage.py load_demo` builds a knowledge base and two weeks of real chat
history that the API can search and count, once."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from aiplatform import text
from conversations import demo
from conversations.choices import DocumentSource, DocumentStatus, LogStatus
from conversations.models import ConversationLog, Document, DocumentChunk
from conversations.services.documents import FORMAT_BY_SUFFIX, documents_parse


def demo_files():
    return sorted(path for path in demo.DATA_DIR.iterdir() if path.suffix in FORMAT_BY_SUFFIX)


def test_demo_files_parse_without_rejects():
    files = demo_files()
    assert {path.suffix for path in files} == {".md", ".txt", ".jsonl"}
    for path in files:
        parsed, rejected = documents_parse(name=path.name, data=path.read_bytes())
        assert parsed
        assert not rejected, path


@pytest.mark.slow
# Committed, so that MariaDB's full-text index (which sees only committed rows) can find the logs.
@pytest.mark.django_db(transaction=True)
def test_load_demo_builds_searchable_history_once(settings, tmp_path, staff_client):
    settings.VECTOR_INDEX_DIR = tmp_path / "vectors"
    out = StringIO()
    call_command("load_demo", stdout=out)

    documents = Document.objects.filter(source=DocumentSource.DEMO)
    expected = sum(len(documents_parse(name=p.name, data=p.read_bytes())[0]) for p in demo_files())
    assert documents.count() == expected
    assert set(documents.values_list("status", flat=True)) == {DocumentStatus.INDEXED}
    assert not DocumentChunk.objects.filter(embedding_model="").exists()

    logs = ConversationLog.objects.all()
    asked = sum(len(questions) for *_, questions in demo.SESSIONS)
    assert logs.count() == asked + 2
    assert logs.filter(status=LogStatus.FAILED, error_code="llm_timeout").count() == 1
    assert logs.filter(status=LogStatus.INTERRUPTED, streamed=True).count() == 1
    # Every log names its model, failures and the cut stream too.
    assert not logs.filter(model="").exists()
    assert set(logs.values_list("user_id", flat=True)) == {"kim", "lee", "guest", "park"}
    assert all(log.account.username == "demo" for log in logs.select_related("account"))
    completed = logs.filter(status=LogStatus.COMPLETED)
    with_sources = [log for log in completed if log.sources]
    assert len(with_sources) >= 0.8 * completed.count()
    assert all(any(source["cited"] for source in log.sources) for log in with_sources if "[1]" in log.answer)
    assert logs.exclude(rating=None).count() == len(demo.FEEDBACK)

    # Spread over the last two weeks, and `day` follows created_at.
    today = timezone.localdate()
    days = set(logs.values_list("day", flat=True))
    assert len(days) >= 10
    assert min(days) >= today - dt.timedelta(days=demo.DAYS - 1)
    assert all(log.day == timezone.localdate(log.created_at) for log in logs)
    assert max(logs.values_list("created_at", flat=True)) <= timezone.now()

    # Korean search through the API: 내보내기 finds 내보내려면, 내보낸, 내보내는 (the stem 내보내).
    response = staff_client.get("/api/conversation/logs", {"q": "내보내기", "limit": 100})
    assert response.status_code == 200, response.content
    found = response.json()["results"]
    assert len(found) >= 3
    assert all("내보내" in text.search_terms(log["question"] + "\n" + log["answer"]) for log in found)
    assert any(log["question"] == "실패한 질문만 CSV로 내보내려면 어떻게 하나요?" for log in found)

    # The stats (from the daily rollups) count every log on its own day.
    response = staff_client.get("/api/conversation/stats")
    assert response.status_code == 200, response.content
    stats = response.json()
    assert stats["source"] == "rollup"
    assert stats["total"] == logs.count()
    assert stats["failed"] == 1
    assert len(stats["per_day"]) == len(days)
    assert {row["user_id"] for row in stats["per_user"]} == {"kim", "lee", "guest", "park"}
    ratings = [rating for rating, *_ in demo.FEEDBACK.values()]
    assert stats["feedback"]["up"] == ratings.count(1)
    assert stats["feedback"]["down"] == ratings.count(-1)
    assert stats["top_keywords"]

    # A second run adds nothing.
    counts = (Document.objects.count(), DocumentChunk.objects.count(), logs.count())
    again = StringIO()
    call_command("load_demo", stdout=again)
    assert "skipped" in again.getvalue()
    assert (Document.objects.count(), DocumentChunk.objects.count(), logs.count()) == counts
