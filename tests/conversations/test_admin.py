"""The admin: logs are read-only records with filters, search and export."""

from conversations.models import ConversationLog, DailyStat

CHANGELIST = "/admin/conversations/conversationlog/"


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
