"""GET /api/conversation/logs (the seed's limit and user_id, plus filters,
search, ordering, cursor pagination), detail, delete and feedback."""

import datetime as dt

import pytest
from django.utils import timezone

from conversations.models import ConversationLog, DailyStat, DailyUserStat
from conversations.services.logs import log_feedback_set

URL = "/api/conversation/logs"
LIST_FIELDS = {
    "id",
    "user_id",
    "session_id",
    "question",
    "answer",
    "status",
    "error_code",
    "provider",
    "model",
    "streamed",
    "top_k",
    "latency_ms",
    "retrieval_ms",
    "prompt_tokens",
    "completion_tokens",
    "rating",
    "feedback_comment",
    "feedback_at",
    "created_at",
}
# The detail adds what a list row leaves out.
DETAIL_FIELDS = LIST_FIELDS | {"error", "sources", "feedback_tags"}
SOURCES = [{"marker": 1, "chunk_id": 7, "document_id": 3, "title": "안내", "score": 0.5, "excerpt": "…", "cited": True}]


def _at(days_ago: int, hour: int = 12) -> dt.datetime:
    local = timezone.localtime().replace(hour=hour, minute=0, second=0, microsecond=0)
    return local - dt.timedelta(days=days_ago)


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_seed_query_limit_and_user_id_newest_first(staff_client, make_log):
    old = make_log(user_id="guest", created_at=_at(3))
    new = make_log(user_id="guest", created_at=_at(1))
    make_log(user_id="kim")

    assert _ids(staff_client.get(URL, {"limit": 5, "user_id": "guest"})) == [new.pk, old.pk]
    assert _ids(staff_client.get(URL + "/", {"limit": 1, "user_id": "guest"})) == [new.pk]


def test_a_user_sees_only_their_own_accounts_logs(owner_client, owner, other_user, make_log):
    mine = make_log(account=owner)
    make_log(account=other_user)

    assert _ids(owner_client.get(URL)) == [mine.pk]


def test_detail_of_another_users_log_is_404(owner_client, other_user, make_log):
    theirs = make_log(account=other_user)

    assert owner_client.get(f"{URL}/{theirs.pk}").status_code == 404
    assert owner_client.post(f"{URL}/{theirs.pk}/feedback", {"rating": 1}, format="json").status_code == 404


def test_owner_less_service_key_sees_all_logs(make_api_key, key_client, owner, other_user, make_log):
    make_log(account=owner)
    make_log(account=other_user)
    _key, secret = make_api_key(["service"])

    assert len(_ids(key_client(secret, "x-api-key").get(URL))) == 2


def test_date_range_uses_whole_local_days_inclusive(staff_client, make_log):
    make_log(created_at=_at(5))
    inside = [make_log(created_at=_at(3, hour=0)), make_log(created_at=_at(2, hour=23))]
    make_log(created_at=_at(1))
    first, last = _at(3).date().isoformat(), _at(2).date().isoformat()

    ids = _ids(staff_client.get(URL, {"date_from": first, "date_to": last}))

    assert sorted(ids) == sorted(log.pk for log in inside)


def test_date_bounds_accept_instants(staff_client, make_log):
    make_log(created_at=_at(2, hour=9))
    later = make_log(created_at=_at(2, hour=15))

    ids = _ids(staff_client.get(URL, {"date_from": _at(2, hour=12).isoformat()}))

    assert ids[-1] == later.pk and len(ids) == 1


@pytest.mark.parametrize(
    ("path", "date_from", "date_to"),
    [
        ("", "2026-11-23", "2026-11-22"),
        ("", "2026-11-22T12:00:00+09:00", "2026-11-22T11:59:59+09:00"),
        # date_to as a date ends at that day's end, so the next midnight is past it.
        ("", "2026-11-23T00:00:00+09:00", "2026-11-22"),
        ("/export/csv", "2026-11-23", "2026-11-22"),
        ("/export/jsonl", "2026-11-23", "2026-11-22"),
    ],
)
def test_inverted_date_range_is_400_naming_both_fields(staff_client, make_log, path, date_from, date_to):
    make_log()

    response = staff_client.get(URL + path, {"date_from": date_from, "date_to": date_to})

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"date_from", "date_to"}
    assert "date_from" in fields["date_to"][0] and "date_to" in fields["date_from"][0]


def test_inverted_date_range_is_explained_in_the_callers_language(staff_client, db):
    params = {"date_from": "2026-11-23", "date_to": "2026-11-22"}

    english = staff_client.get(URL, params).json()["error"]
    korean = staff_client.get(URL, params, HTTP_ACCEPT_LANGUAGE="ko").json()["error"]

    assert english["message"] == "date_from: Must not be after date_to."
    assert korean["fields"] == {
        "date_from": ["date_to보다 늦을 수 없습니다."],
        "date_to": ["date_from보다 이를 수 없습니다."],
    }


@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [("2026-11-22", "2026-11-22"), ("2026-11-22T12:00:00+09:00", "2026-11-22T12:00:00+09:00")],
)
def test_a_range_of_one_day_or_one_instant_is_not_inverted(staff_client, db, date_from, date_to):
    response = staff_client.get(URL, {"date_from": date_from, "date_to": date_to})

    assert response.status_code == 200


def test_status_and_session_filters(staff_client, make_log):
    failed = make_log(status="failed", error="timeout", session_id="s-1")
    make_log(session_id="s-1")
    make_log(session_id="s-2")

    assert _ids(staff_client.get(URL, {"status": "failed"})) == [failed.pk]
    assert len(_ids(staff_client.get(URL, {"session_id": "s-1"}))) == 2


def test_ordering_by_latency(staff_client, make_log):
    slow = make_log(latency_ms=900)
    fast = make_log(latency_ms=5)

    assert _ids(staff_client.get(URL, {"ordering": "latency_ms"})) == [fast.pk, slow.pk]
    assert _ids(staff_client.get(URL, {"ordering": "-latency_ms"})) == [slow.pk, fast.pk]


def test_cursor_pagination_walks_every_log_once(staff_client, make_log):
    created = {make_log(created_at=_at(0) - dt.timedelta(minutes=i)).pk for i in range(7)}
    seen, url, params = [], URL, {"limit": 3}
    while url:
        body = staff_client.get(url, params).json()
        seen += [row["id"] for row in body["results"]]
        url, params = body["next"], None

    assert len(seen) == 7 and set(seen) == created


def test_offset_pages_for_clients_that_page_by_offset(staff_client, make_log):
    # Seven logs, two of them written in the same instant: an offset page
    # keeps one order across requests all the same.
    now = _at(0)
    created = [make_log(created_at=now - dt.timedelta(minutes=i)).pk for i in range(6)]
    created.insert(3, make_log(created_at=now - dt.timedelta(minutes=2)).pk)
    newest_first = sorted(created, key=lambda pk: (-ConversationLog.objects.get(pk=pk).created_at.timestamp(), -pk))

    second = staff_client.get(URL, {"limit": 2, "offset": 2}).json()
    assert [row["id"] for row in second["results"]] == newest_first[2:4]
    assert "offset=4" in second["next"] and "offset=0" in second["previous"]

    seen, url, params = [], URL, {"limit": 3, "offset": 0}
    while url:
        body = staff_client.get(url, params).json()
        seen += [row["id"] for row in body["results"]]
        url, params = body["next"], None
    assert seen == newest_first
    assert staff_client.get(URL, {"limit": 3, "offset": 6}).json()["next"] is None
    assert staff_client.get(URL, {"offset": 50}).json()["results"] == []


def test_offset_follows_the_filters_and_the_ordering(staff_client, make_log):
    make_log(latency_ms=5)
    slow, slowest = make_log(latency_ms=50), make_log(latency_ms=500)
    newest = make_log(user_id="lee", latency_ms=1, question="다른 질문")

    assert _ids(staff_client.get(URL, {"ordering": "latency_ms", "offset": 1, "user_id": "kim"})) == [
        slow.pk,
        slowest.pk,
    ]
    # A search pages in its own order (newest match first).
    assert _ids(staff_client.get(URL, {"q": "로그", "offset": 1, "limit": 1})) == [slow.pk]
    assert _ids(staff_client.get(URL, {"offset": 0, "limit": 1})) == [newest.pk]


def test_offset_with_a_cursor_is_400_naming_offset(staff_client, make_log):
    for _ in range(3):
        make_log()
    cursor_url = staff_client.get(URL, {"limit": 1}).json()["next"]

    response = staff_client.get(cursor_url + "&offset=1")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"offset": ["Use either cursor or offset, not both."]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"offset": -1}, "offset"),
        ({"offset": "two"}, "offset"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"date_from": "2026-13-40"}, "date_from"),
        ({"date_to": "yesterday"}, "date_to"),
        ({"status": "lost"}, "status"),
        ({"user": "kim"}, "user"),
        ({"ordering": "question"}, None),
    ],
)
def test_bad_query_parameters_are_400_naming_them(staff_client, db, params, field):
    response = staff_client.get(URL, params)

    if field is None:
        # An ordering outside the allowed fields is ignored, as DRF does.
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_list_rows_are_light_and_the_detail_has_every_field(staff_client, make_log):
    log = make_log(
        status="failed", error="The chat model timed out.", error_code="upstream_timeout", sources=SOURCES, top_k=4
    )
    log_feedback_set(log=log, rating=-1, comment="느려요", tags=["느림"])

    row = staff_client.get(URL).json()["results"][0]
    detail = staff_client.get(f"{URL}/{log.pk}").json()

    assert set(row) == LIST_FIELDS
    assert set(detail) == DETAIL_FIELDS
    # The same values, written the same way (times in the current time zone).
    assert row == {name: detail[name] for name in LIST_FIELDS}
    assert row["created_at"] == timezone.localtime(log.created_at).isoformat()
    assert (row["rating"], row["feedback_comment"], row["top_k"], row["streamed"]) == (-1, "느려요", 4, False)
    assert dt.datetime.fromisoformat(row["feedback_at"]).tzinfo is not None
    assert (detail["error"], detail["sources"], detail["feedback_tags"]) == (
        "The chat model timed out.",
        SOURCES,
        ["느림"],
    )


def test_search_rows_have_the_list_fields_only(staff_client, make_log):
    make_log(question="로그를 어디에 저장하나요?")

    rows = staff_client.get(URL, {"q": "로그"}).json()["results"]

    assert len(rows) == 1 and set(rows[0]) == LIST_FIELDS


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"user_id": "kim", "date_from": "2000-01-01", "limit": 3},
        {"q": "로그"},
        {"offset": 2},
        {"q": "로그", "offset": 1},
    ],
)
def test_list_costs_one_query(staff_client, make_log, django_assert_num_queries, params):
    for _ in range(5):
        make_log(question="로그를 어디에 저장하나요?")
    with django_assert_num_queries(1):
        response = staff_client.get(URL, params)
    assert response.status_code == 200 and response.json()["results"]


def test_detail_costs_one_query(staff_client, make_log, django_assert_num_queries):
    log = make_log(sources=SOURCES)
    with django_assert_num_queries(1):
        assert staff_client.get(f"{URL}/{log.pk}").json()["sources"] == SOURCES


def test_feedback_is_stored_replaced_and_counted(owner_client, owner, make_log):
    log = make_log(account=owner, user_id="kim")

    response = owner_client.post(
        f"{URL}/{log.pk}/feedback", {"rating": -1, "comment": "출처가 틀렸어요", "tags": ["부정확"]}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["rating"], response.json()["feedback_tags"]) == (-1, ["부정확"])
    assert DailyStat.objects.get(day=log.day).rating_down == 1

    owner_client.post(f"{URL}/{log.pk}/feedback", {"rating": 1}, format="json")
    stat, user_stat = DailyStat.objects.get(day=log.day), DailyUserStat.objects.get(day=log.day, user_id="kim")
    assert (stat.rating_up, stat.rating_down) == (1, 0)
    assert (user_stat.rating_up, user_stat.rating_down) == (1, 0)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"rating": 0}, "rating"),
        ({}, "rating"),
        ({"rating": 1, "tags": ["x" * 41]}, "tags"),
        ({"rating": 1, "comment": "c" * 2001}, "comment"),
    ],
)
def test_bad_feedback_is_400_naming_the_field(owner_client, owner, make_log, payload, field):
    log = make_log(account=owner)

    response = owner_client.post(f"{URL}/{log.pk}/feedback", payload, format="json")

    assert response.status_code == 400
    assert field in str(response.json()["error"].get("fields", {})) or response.json()["error"].get("field") == field


def test_only_staff_delete_and_rollups_follow(owner_client, staff_client, owner, make_log):
    log = make_log(account=owner)

    assert owner_client.delete(f"{URL}/{log.pk}").status_code == 403
    assert staff_client.delete(f"{URL}/{log.pk}").status_code == 204
    assert not ConversationLog.objects.exists()
    assert DailyStat.objects.get(day=log.day).count == 0


def test_anonymous_is_refused(anon_client, db):
    assert anon_client.get(URL).status_code in (401, 403)
