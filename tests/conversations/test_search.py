"""Full-text search (`q`): FTS5 on SQLite, the term table on MariaDB (run
both with DATABASE_URL); newest matches first, paged by cursor."""

import pytest
from django.db import connection

from aiplatform import text
from conversations.models import ConversationLog, ConversationLogTerm
from conversations.search import uses_term_table
from conversations.services.logs import log_delete

URL = "/api/conversation/logs"


def _questions(client, q: str) -> set[str]:
    response = client.get(URL, {"q": q})
    assert response.status_code == 200, response.content
    return {row["question"] for row in response.json()["results"]}


@pytest.fixture
def logs(make_log):
    make_log(question="로그를 어디에 저장하나요?", answer="데이터베이스에 저장됩니다.")
    make_log(question="서버 오류 로그 확인", answer="확인했습니다.")
    make_log(question="How are server logs searched?", answer="With a full-text index.")
    make_log(question="로그인이 안 돼요", answer="비밀번호를 재설정하세요.")
    make_log(question="AI 모델 성능", answer="The ML model improved.")


def test_korean_stem_finds_inflected_forms(staff_client, logs):
    assert _questions(staff_client, "로그") == {"로그를 어디에 저장하나요?", "서버 오류 로그 확인"}
    assert _questions(staff_client, "로그를") == {"로그를 어디에 저장하나요?", "서버 오류 로그 확인"}


def test_korean_search_is_by_word_not_by_substring(staff_client, logs):
    # 로그인 (login) contains 로그 as letters, but it is another word.
    assert "로그인이 안 돼요" not in _questions(staff_client, "로그")
    assert _questions(staff_client, "로그인") == {"로그인이 안 돼요"}


def test_english_words_and_plurals(staff_client, logs):
    assert _questions(staff_client, "log") == {"How are server logs searched?"}
    assert _questions(staff_client, "Server") == {"How are server logs searched?"}


def test_every_term_must_match_and_answers_count(staff_client, logs):
    assert _questions(staff_client, "서버 로그") == {"서버 오류 로그 확인"}
    assert _questions(staff_client, "데이터베이스") == {"로그를 어디에 저장하나요?"}


def test_short_terms_are_searchable_despite_innodb_minimum(staff_client, logs):
    assert _questions(staff_client, "AI") == {"AI 모델 성능"}
    assert _questions(staff_client, "ml") == {"AI 모델 성능"}


def test_no_match_and_particles_only(staff_client, logs):
    assert _questions(staff_client, "양자컴퓨터") == set()
    assert _questions(staff_client, "를") == set()


def test_search_combines_with_filters_and_visibility(owner_client, owner, make_log, logs):
    make_log(account=owner, user_id="me", question="내 로그 보기")

    assert _questions(owner_client, "로그") == {"내 로그 보기"}


def test_search_over_a_hundred_characters_is_refused(staff_client):
    response = staff_client.get(URL, {"q": "가" * 201})

    assert response.status_code == 400
    assert "q" in response.json()["error"]["fields"]


def test_matches_come_newest_first_across_cursor_pages(staff_client, make_log):
    ids = [make_log(question=f"결제 오류 {n}번째 문의", answer="확인했습니다.").pk for n in range(7)]
    make_log(question="다른 질문", answer="무관합니다.")

    seen, url, params = [], URL, {"q": "결제 오류", "limit": 3}
    while url:
        body = staff_client.get(url, params).json()
        seen += [row["id"] for row in body["results"]]
        url, params = body["next"], None

    assert seen == sorted(ids, reverse=True)


def test_search_keeps_an_explicit_ordering(staff_client, make_log):
    make_log(question="결제 문의", latency_ms=50.0)
    make_log(question="결제 질문", latency_ms=10.0)

    body = staff_client.get(URL, {"q": "결제", "ordering": "latency_ms"}).json()

    assert [row["latency_ms"] for row in body["results"]] == [10.0, 50.0]


def test_the_term_table_follows_writes_and_deletes(make_log):
    log = make_log(question="환불 요청", answer="Refund approved.")
    terms = set(ConversationLogTerm.objects.filter(log=log).values_list("term", flat=True))
    if not uses_term_table():
        assert connection.vendor == "sqlite" and terms == set()
        return
    assert set(text.query_tokens("환불 요청 refund approved")) <= terms

    log_delete(log=ConversationLog.objects.get(pk=log.pk))

    assert not ConversationLogTerm.objects.filter(log_id=log.pk).exists()
