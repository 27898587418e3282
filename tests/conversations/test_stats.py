"""GET /api/conversation/stats: the rollups answer what they can, the live
aggregation the rest, and both agree."""

import datetime as dt
from collections import Counter

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations.models import DailyKeyword, DailyStat, DailyUserStat
from conversations.rollups import bucket_value, histogram_percentile, latency_bucket
from conversations.services.logs import log_delete, log_feedback_set

URL = "/api/conversation/stats"


def _at(days_ago: int) -> dt.datetime:
    return timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0) - dt.timedelta(days=days_ago)


@pytest.fixture
def history(make_log):
    logs = []
    for i in range(12):
        logs.append(
            make_log(
                user_id="kim" if i % 3 else "lee",
                question="서버 로그 오류" if i % 2 else "How to export logs?",
                status="failed" if i == 5 else "completed",
                latency_ms=10.0 * (i + 1),
                created_at=_at(i % 4),
            )
        )
    log_feedback_set(log=logs[0], rating=1)
    log_feedback_set(log=logs[1], rating=-1)
    log_feedback_set(log=logs[2], rating=1)
    return logs


def _stats(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_stats_from_rollups(staff_client, history):
    body = _stats(staff_client)

    assert body["source"] == "rollup"
    assert body["total"] == 12 and body["failed"] == 1
    assert body["failure_rate"] == round(1 / 12, 4)
    assert [day["count"] for day in body["per_day"]] == [3, 3, 3, 3]
    assert body["per_user"] == [{"user_id": "kim", "count": 8}, {"user_id": "lee", "count": 4}]
    assert {"term": "로그", "count": 6} in body["top_keywords"]
    assert {"term": "export", "count": 6} in body["top_keywords"]
    assert body["feedback"] == {"up": 2, "down": 1, "ratio": round(2 / 3, 4)}
    # 10..120 ms: p50 about 60-70 ms, read from 20 %-wide buckets.
    assert 50 <= body["latency_ms"]["p50"] <= 80
    assert 100 <= body["latency_ms"]["p95"] <= 135
    assert body["latency_ms"]["mean"] == 65.0


@pytest.mark.parametrize("params", [{}, {"user_id": "kim"}, {"date_from": "DAY2", "date_to": "DAY0"}])
def test_rollups_and_live_aggregation_agree(staff_client, owner_client, history, params):
    params = {k: _at(int(v[-1])).date().isoformat() if v.startswith("DAY") else v for k, v in params.items()}
    rolled = _stats(staff_client, **params)
    # A time-of-day bound forces the live path over the same logs.
    live_params = dict(params)
    if "date_from" in params:
        live_params["date_from"] = f"{params['date_from']}T00:00:00"
    else:
        live_params["date_from"] = f"{_at(30).date().isoformat()}T00:00:00"
    live = _stats(staff_client, **live_params)

    assert rolled["source"] == "rollup" and live["source"] == "live"
    for key in ("total", "failed", "failure_rate", "per_day", "per_user", "feedback", "top_keywords"):
        assert rolled[key] == live[key], key


def test_live_path_for_status_and_own_logs(staff_client, owner_client, owner, history, make_log):
    make_log(account=owner, user_id="me", question="내 질문", latency_ms=42.0)

    assert _stats(staff_client, status="failed")["total"] == 1
    mine = _stats(owner_client)
    assert mine["source"] == "live" and mine["total"] == 1
    assert mine["latency_ms"]["p50"] == 42.0


def test_search_stats_describe_every_match_when_few(staff_client, history):
    searched = _stats(staff_client, q="오류")
    live = _stats(staff_client, status="completed", date_from=f"{_at(30).date().isoformat()}T00:00:00")

    assert searched["source"] == "sample"
    assert searched["sample"]["logs"] == 6 and searched["sample"]["complete"] is True
    assert searched["total"] == 6 and searched["failed"] == 1
    assert searched["per_user"] == [{"user_id": "kim", "count": 4}, {"user_id": "lee", "count": 2}]
    assert searched["top_keywords"][:2] == [{"term": "로그", "count": 6}, {"term": "서버", "count": 6}]
    assert searched["feedback"] == {"up": 0, "down": 1, "ratio": 0.0}
    assert searched["latency_ms"]["p50"] == 60.0
    assert live["total"] == 11


def test_search_stats_read_the_newest_matches_only(staff_client, history, monkeypatch):
    from conversations import stats

    monkeypatch.setattr(stats, "SEARCH_SAMPLE", 4)
    matches = sorted((log for log in history if "오류" in log.question), key=lambda log: log.pk, reverse=True)

    searched = _stats(staff_client, q="오류")

    assert searched["sample"]["logs"] == 4 and searched["sample"]["complete"] is False
    assert searched["total"] == 4
    assert searched["sample"]["oldest"] == _stats_time(matches[3].created_at)
    assert sum(day["count"] for day in searched["per_day"]) == 4


def _stats_time(moment) -> str:
    from rest_framework.fields import DateTimeField

    return DateTimeField().to_representation(moment)


def test_rollups_follow_deletes_and_rebuild_reproduces_them(staff_client, history):
    log_delete(log=history[5])
    after_delete = _stats(staff_client)
    snapshot = (
        sorted(DailyStat.objects.filter(count__gt=0).values_list("day", "status", "count", "rating_up")),
        sorted(DailyUserStat.objects.filter(count__gt=0).values_list("day", "user_id", "count", "failed")),
        sorted(DailyKeyword.objects.filter(count__gt=0).values_list("day", "term", "count")),
    )

    call_command("rebuild_conversation_stats", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert after_delete["total"] == 11 and after_delete["failed"] == 0
    assert snapshot == (
        sorted(DailyStat.objects.values_list("day", "status", "count", "rating_up")),
        sorted(DailyUserStat.objects.values_list("day", "user_id", "count", "failed")),
        sorted(DailyKeyword.objects.values_list("day", "term", "count")),
    )
    assert _stats(staff_client) == after_delete


@pytest.mark.parametrize(
    ("params", "field"), [({"top": 0}, "top"), ({"date_to": "x"}, "date_to"), ({"when": "1"}, "when")]
)
def test_bad_stats_parameters(staff_client, db, params, field):
    response = staff_client.get(URL, params)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_histogram_buckets_bound_the_error():
    for latency in (0.2, 1, 7.5, 123.4, 9999.0):
        value = bucket_value(latency_bucket(latency))
        assert abs(value - latency) / latency <= 0.11 or latency < 1
    uniform = Counter(latency_bucket(v) for v in range(1, 101))
    assert 45 <= histogram_percentile(uniform, 0.5) <= 56
    assert 86 <= histogram_percentile(uniform, 0.95) <= 105
    assert histogram_percentile(Counter(), 0.5) is None


@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [
        ("2026-08-20", "2026-10-31"),
        ("2026-09-01", "2026-09-30"),
        ("2026-08-01", "2026-11-05"),
        ("2026-09-15", "2026-10-02"),
    ],
)
def test_ranking_over_months_combines_monthly_and_daily_rollups(staff_client, make_log, date_from, date_to):
    # Ranking users and keywords over long ranges reads whole months from the
    # monthly rollups and the partial months at the ends from the daily ones.
    days = ["2026-08-15", "2026-08-25", "2026-09-01", "2026-09-30", "2026-10-10", "2026-10-31", "2026-11-01"]
    for i, day in enumerate(days):
        when = timezone.make_aware(dt.datetime.fromisoformat(f"{day}T10:00:00"))
        for j in range(i + 1):
            make_log(user_id=f"user-{j}", question=f"keyword{i} 질문", created_at=when)

    rolled = _stats(staff_client, date_from=date_from, date_to=date_to, top=20)
    live = _stats(staff_client, date_from=f"{date_from}T00:00:00", date_to=date_to, top=20)

    assert rolled["source"] == "rollup" and live["source"] == "live"
    assert rolled["total"] == live["total"] > 0
    assert rolled["per_user"] == live["per_user"]
    assert rolled["top_keywords"] == live["top_keywords"]


def test_inverted_date_range_is_400_naming_both_fields(staff_client, history):
    response = staff_client.get(URL, {"date_from": _at(0).date().isoformat(), "date_to": _at(3).date().isoformat()})

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"date_from", "date_to"}
