"""conversations.rollups: what each write, deletion and rating change leaves
in the rollup tables equals a rebuild from the logs, on one connection and
on several writing at once."""

import datetime as dt
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from conversations.models import (
    ConversationLog,
    DailyKeyword,
    DailyStat,
    DailyUserKeyword,
    DailyUserStat,
    MonthlyKeyword,
    MonthlyUserStat,
)
from conversations.rollups import latency_bucket, rollup_log, rollups_rebuild
from conversations.services.logs import log_delete, log_feedback_set, log_record

ROLLUPS = (DailyStat, DailyUserStat, DailyKeyword, DailyUserKeyword, MonthlyUserStat, MonthlyKeyword)


def _at(day: str, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime.fromisoformat(f"{day}T{hour:02d}:00:00"))


def _write(**values) -> ConversationLog:
    defaults = {"account": None, "user_id": "kim", "answer": "", "status": "completed", "latency_ms": 20.0}
    return log_record(**{**defaults, **values})


def _rows(model) -> list[tuple]:
    """The rows that count something, without ids, comparable across rebuilds."""
    names = [field.name for field in model._meta.concrete_fields if field.name != "id"]
    rows = []
    for row in model.objects.filter(count__gt=0).values(*names):
        if "latency_ms_sum" in row:
            row["latency_ms_sum"] = round(row["latency_ms_sum"], 6)
            row["latency_histogram"] = sorted(row["latency_histogram"].items())
        rows.append(tuple(row.values()))
    return sorted(rows)


def _snapshot() -> dict[str, list[tuple]]:
    return {model.__name__: _rows(model) for model in ROLLUPS}


def _assert_equal_to_rebuild() -> dict[str, list[tuple]]:
    # A row whose logs were all deleted stays, at zero everywhere.
    for model in (DailyStat, DailyUserStat):
        for row in model.objects.filter(count=0):
            assert row.latency_ms_sum == pytest.approx(0, abs=1e-6) and row.latency_histogram == {}
            assert row.rating_up == row.rating_down == 0
    incremental = _snapshot()
    rollups_rebuild()
    rebuilt = _snapshot()
    assert incremental == rebuilt
    return rebuilt


def test_writes_deletions_and_rating_changes_equal_a_rebuild(db):
    logs = []
    questions = ["서버 로그 오류가 났어요", "How to export logs?", "로그 내보내기 방법", "Kubernetes 배포 오류"]
    for i in range(24):
        logs.append(
            _write(
                user_id=("kim", "lee", "park")[i % 3],
                question=questions[i % 4],
                status=("completed", "completed", "failed", "interrupted")[i % 4],
                latency_ms=7.5 * (i + 1),
                prompt_tokens=i or None,
                completion_tokens=2 * i,
                created_at=_at(("2026-09-29", "2026-09-30", "2026-10-01")[i % 3], hour=8 + i % 10),
            )
        )
    log_feedback_set(log=logs[0], rating=1)
    log_feedback_set(log=logs[1], rating=-1)
    log_feedback_set(log=logs[1], rating=1)  # changed its mind
    log_feedback_set(log=logs[3], rating=-1)
    log_feedback_set(log=logs[4], rating=1)
    for log in (logs[3], logs[4], logs[9], logs[10]):  # rated, unrated, one of each status
        log_delete(log=log)
    # The only log of a day, user and keyword goes: its rows drop to zero.
    alone = _write(user_id="choi", question="유일한 질문 온톨로지", created_at=_at("2026-08-15"))
    log_feedback_set(log=alone, rating=-1)
    log_delete(log=alone)

    assert DailyStat.objects.get(day="2026-08-15", status="completed").count == 0
    assert not DailyUserKeyword.objects.filter(user_id="choi", count__gt=0).exists()
    rebuilt = _assert_equal_to_rebuild()
    assert sum(row[2] for row in rebuilt["DailyStat"]) == 20


def test_user_keywords_count_each_log_once_per_term(db):
    _write(user_id="kim", question="로그 로그 저장 위치", created_at=_at("2026-10-01"))
    _write(user_id="kim", question="로그 검색", created_at=_at("2026-10-01", hour=15))
    _write(user_id="kim", question="로그 검색", created_at=_at("2026-10-02"))
    _write(user_id="lee", question="로그 검색", created_at=_at("2026-10-01"))
    deleted = _write(user_id="kim", question="검색 오류", created_at=_at("2026-10-01"))
    log_delete(log=deleted)

    counts = {
        (row.user_id, row.day.isoformat(), row.term): row.count for row in DailyUserKeyword.objects.filter(count__gt=0)
    }

    assert counts == {
        ("kim", "2026-10-01", "로그"): 2,
        ("kim", "2026-10-01", "저장"): 1,
        ("kim", "2026-10-01", "위치"): 1,
        ("kim", "2026-10-01", "검색"): 1,
        ("kim", "2026-10-02", "로그"): 1,
        ("kim", "2026-10-02", "검색"): 1,
        ("lee", "2026-10-01", "로그"): 1,
        ("lee", "2026-10-01", "검색"): 1,
    }
    assert DailyUserKeyword.objects.get(user_id="kim", day="2026-10-01", term="오류").count == 0
    _assert_equal_to_rebuild()


def test_one_statement_per_rollup_table(db, django_assert_num_queries):
    log = ConversationLog(
        user_id="kim",
        question="q",
        status="completed",
        latency_ms=12.0,
        keywords="로그 저장 export",
        day=dt.date(2026, 10, 1),
    )
    with transaction.atomic():
        log.save()
        with django_assert_num_queries(len(ROLLUPS)):
            rollup_log(log)  # new rows
        with django_assert_num_queries(len(ROLLUPS)):
            rollup_log(log)  # existing rows
        log.keywords = ""
        with django_assert_num_queries(len(ROLLUPS) - 3):  # no keywords, no keyword rows
            rollup_log(log, sign=-1)

    stat = DailyStat.objects.get()
    assert stat.count == 1 and stat.latency_ms_sum == 12.0
    assert stat.latency_histogram == {str(latency_bucket(12.0)): 1}
    assert DailyKeyword.objects.get(term="export").count == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_lose_no_count_and_do_not_deadlock():
    # Four connections write logs of the same day with overlapping keywords,
    # starting on rows that do not exist yet, and delete some of them again.
    threads_n, logs_n = 4, 12
    questions = ["서버 로그 오류", "로그 저장 위치", "export logs as csv", "서버 배포 로그", "Kubernetes 로그 오류"]
    start = threading.Barrier(threads_n)
    errors = []

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(logs_n):
                log = _write(
                    user_id=("kim", "lee")[(n + i) % 2],
                    question=questions[(n + i) % len(questions)],
                    status="failed" if i % 5 == 4 else "completed",
                    latency_ms=10.0 + 3 * n + i,
                    created_at=_at("2026-10-01", hour=9 + n),
                )
                if i % 4 == 3:
                    log_delete(log=log)
        except Exception as exc:  # reported below, with the thread's number
            errors.append((n, exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    kept = threads_n * (logs_n - logs_n // 4)
    assert ConversationLog.objects.count() == kept
    assert sum(DailyStat.objects.values_list("count", flat=True)) == kept
    assert (
        DailyKeyword.objects.get(term="로그").count == ConversationLog.objects.filter(keywords__contains="로그").count()
    )
    _assert_equal_to_rebuild()
