"""The admin: logs are read-only records with filters, search and export."""

from conversations.models import ConversationLog, DailyStat
from conversations.services.documents import document_create

CHANGELIST = "/admin/conversations/conversationlog/"
DOCUMENTS = "/admin/conversations/document/"


def test_changelist_filters_search_and_date_hierarchy(admin_client, make_log):
    make_log(question="로그 저장 위치", status="failed")
    make_log(question="export question")

    page = admin_client.get(CHANGELIST, {"status__exact": "failed"})
    assert page.status_code == 200
    assert "로그 저장 위치" in page.content.decode() and "export question" not in page.content.decode()
    assert "export question" in admin_client.get(CHANGELIST, {"q": "export"}).content.decode()
    assert admin_client.get(CHANGELIST).context["cl"].date_hierarchy == "created_at"


def test_log_fields_are_read_only_and_logs_cannot_be_added(admin_client, make_log):
    log = make_log()

    page = admin_client.get(f"{CHANGELIST}{log.pk}/change/")
    assert page.status_code == 200
    assert not any(name in page.context["adminform"].form.fields for name in ("question", "answer", "status"))
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403


def test_export_action_streams_the_selected_logs(admin_client, make_log):
    chosen = make_log(question="선택됨")
    make_log(question="제외됨")

    response = admin_client.post(CHANGELIST, {"action": "export_csv", "_selected_action": [chosen.pk]})

    body = b"".join(response.streaming_content).decode()
    assert "선택됨" in body and "제외됨" not in body


def test_delete_action_keeps_rollups_in_step(admin_client, make_log):
    log = make_log()

    admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [log.pk], "post": "yes"})

    assert not ConversationLog.objects.exists()
    assert DailyStat.objects.get(day=log.day).count == 0


def test_changelist_reads_in_korean_or_english(admin_client, make_log):
    log = make_log(status="failed")

    korean = admin_client.get(CHANGELIST, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    english = admin_client.get(CHANGELIST, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    detail = admin_client.get(f"{CHANGELIST}{log.pk}/change/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    for text in ("선택한 기록을 CSV로 내보내기", "제공자", "스트리밍", "실패", "대화 기록"):
        assert text in korean
    for text in ("Export the selected logs as CSV", "provider", "streamed", "Failed", "Conversation logs"):
        assert text in english
    for text in ("User ID:", "Latency (ms):", "Whole request: retrieval, generation and storage.", "Execution"):
        assert text in detail


def test_reindex_action_says_how_many_documents_it_scheduled(admin_client, db):
    documents = [document_create(title=f"doc {n}", text_content=f"text {n}", index=False)[0] for n in range(2)]
    selected = {"action": "reindex", "_selected_action": [document.pk for document in documents]}

    korean = admin_client.post(DOCUMENTS, selected, follow=True, HTTP_ACCEPT_LANGUAGE="ko")
    english = admin_client.post(DOCUMENTS, selected, follow=True, HTTP_ACCEPT_LANGUAGE="en")

    assert [str(m) for m in korean.context["messages"]] == ["2개 문서의 색인 작업을 예약했습니다."]
    assert [str(m) for m in english.context["messages"]] == ["Indexing of 2 documents is scheduled."]
