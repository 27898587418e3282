"""Migration 0005 fills the term table (MariaDB/MySQL) and the per-user
keyword counts from the logs already stored."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from aiplatform import text
from conversations.services.logs import log_analyse

BEFORE = [("conversations", "0004_monthly_rollups")]
AFTER = [("conversations", "0005_search_terms_and_user_keywords")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _migrate_to_latest() -> None:
    # Going back to 0004 also unapplied every migration that depends on a
    # later conversations one (other apps' tables that refer to the logs).
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_0005_indexes_the_logs_already_stored():
    old_apps = _migrate(BEFORE)
    try:
        log_model = old_apps.get_model("conversations", "ConversationLog")
        ids = []
        for user_id, question in (("kim", "환불 요청 방법"), ("kim", "환불 기간"), ("lee", "배송 조회")):
            search_terms, keywords = log_analyse(question=question, answer="안내해 드립니다.")
            log = log_model.objects.create(
                user_id=user_id,
                question=question,
                answer="안내해 드립니다.",
                status="completed",
                latency_ms=10.0,
                search_terms=search_terms,
                keywords=keywords,
                day=dt.date(2026, 11, 20),
            )
            ids.append(log.pk)

        apps = _migrate(AFTER)

        term_model = apps.get_model("conversations", "ConversationLogTerm")
        user_keyword = apps.get_model("conversations", "DailyUserKeyword")
        counts = {(row.user_id, row.term): row.count for row in user_keyword.objects.all()}
        assert counts[("kim", "환불")] == 2 and counts[("lee", "배송")] == 1
        refund = text.query_tokens("환불")[0]
        indexed = set(term_model.objects.filter(term=refund).values_list("log_id", flat=True))
        assert indexed == (set(ids[:2]) if connection.vendor != "sqlite" else set())
    finally:
        _migrate_to_latest()
