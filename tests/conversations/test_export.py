"""Export of the filtered logs as CSV and JSON Lines, streamed."""

import csv
import io
import json

from conversations import export

URL = "/api/conversation/logs/export"


def _body(response) -> str:
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8")


def test_jsonl_export_applies_filters_and_keeps_every_field(staff_client, make_log):
    wanted = make_log(user_id="kim", question='쉼표, 따옴표" 그리고\n줄바꿈', sources=[{"marker": 1, "score": 0.9}])
    make_log(user_id="lee")

    response = staff_client.get(f"{URL}/jsonl", {"user_id": "kim"})

    assert response.streaming and response["Content-Type"].startswith("application/x-ndjson")
    assert "attachment" in response["Content-Disposition"]
    rows = [json.loads(line) for line in _body(response).splitlines()]
    assert [row["id"] for row in rows] == [wanted.pk]
    assert rows[0]["question"] == wanted.question
    assert rows[0]["sources"] == [{"marker": 1, "score": 0.9}]
    assert set(rows[0]) == set(export.EXPORT_FIELDS)


def test_csv_export_round_trips_korean_and_special_characters(staff_client, make_log):
    log = make_log(question='쉼표, 따옴표" 그리고\n줄바꿈')

    text = _body(staff_client.get(f"{URL}/csv"))

    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 1 and rows[0]["question"] == log.question and rows[0]["id"] == str(log.pk)


def test_export_walks_all_rows_in_batches_newest_first(make_log):
    logs = [make_log(user_id=f"u{i}") for i in range(7)]
    from conversations.models import ConversationLog

    rows = list(export.logs_export_rows(ConversationLog.objects.all(), batch=3))

    assert [row["id"] for row in rows] == [log.pk for log in reversed(logs)]


def test_export_of_a_search_walks_the_index_in_batches(make_log):
    from conversations.models import ConversationLog
    from conversations.search import logs_search

    matches = [make_log(question=f"환불 문의 {i}").pk for i in range(7)]
    make_log(question="배송 문의")

    rows = list(export.logs_export_rows(logs_search(ConversationLog.objects.all(), "환불"), batch=3))

    assert [row["id"] for row in rows] == sorted(matches, reverse=True)
    assert set(rows[0]) == set(export.EXPORT_FIELDS)


def test_export_respects_visibility_and_bad_filters(owner_client, owner, other_user, make_log):
    mine = make_log(account=owner)
    make_log(account=other_user)

    rows = _body(owner_client.get(f"{URL}/jsonl")).splitlines()
    assert [json.loads(row)["id"] for row in rows] == [mine.pk]
    assert owner_client.get(f"{URL}/jsonl", {"date_from": "bad"}).status_code == 400
    assert owner_client.get(f"{URL}/xml").status_code == 404
