"""Full-text search (`q`): FTS5 on SQLite, the term table on MariaDB (run
both with DATABASE_URL); newest matches first, paged by cursor."""

import pytest
from django.db import connection

from aiplatform import text
from conversations.admin import ConversationLogAdmin
from conversations.models import ConversationLog, ConversationLogTerm
from conversations.search import uses_term_table
from conversations.services.logs import log_delete, logs_search_terms_rebuild

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


# --- Parts of compounds and other forms of English words --------------------


@pytest.fixture
def compounds(make_log):
    make_log(question="환불규정을 알려주세요", answer="구매 후 7일 안에 가능합니다.")
    make_log(question="대화로그는 어디서 보나요?", answer="관리자 화면에서 봅니다.")
    make_log(question="서버로그에 오류가 남았어요", answer="확인해 보겠습니다.")
    make_log(question="임베딩모델을 바꿀 수 있나요?", answer="설정에서 바꿉니다.")
    make_log(question="로그인이 안 돼요", answer="비밀번호를 재설정하세요.")


def test_a_part_of_a_compound_finds_the_compound(staff_client, compounds):
    assert _questions(staff_client, "환불") == {"환불규정을 알려주세요"}
    assert _questions(staff_client, "규정") == {"환불규정을 알려주세요"}
    # Kiwi reads 대화로그 as 대화 + particle 로 + determiner 그 unless told otherwise.
    assert _questions(staff_client, "로그") == {"대화로그는 어디서 보나요?", "서버로그에 오류가 남았어요"}
    assert _questions(staff_client, "대화로그") == {"대화로그는 어디서 보나요?"}
    # An unknown noun glued to a known one (임베딩 + 모델).
    assert _questions(staff_client, "모델") == {"임베딩모델을 바꿀 수 있나요?"}
    assert _questions(staff_client, "임베딩 모델") == {"임베딩모델을 바꿀 수 있나요?"}


def test_a_loanword_is_not_a_compound(staff_client, compounds):
    # 로그인 (login) is one word: 로그 does not find it, nor it 로그.
    assert "로그인이 안 돼요" not in _questions(staff_client, "로그")
    assert _questions(staff_client, "로그인") == {"로그인이 안 돼요"}


def test_korean_inflections_still_match(staff_client, make_log):
    make_log(question="점심을 먹었다", answer="맛있게 먹었습니다.")
    make_log(question="저녁 메뉴", answer="아직 안 먹어요.")
    make_log(question="새로운 기능이 있나요?", answer="새롭게 추가됐습니다.")

    assert _questions(staff_client, "먹다") == {"점심을 먹었다", "저녁 메뉴"}
    # An irregular stem (새롭다 -> 새로운) is a stem too.
    assert _questions(staff_client, "새롭다") == {"새로운 기능이 있나요?"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("export", {"How do I export logs?", "Logs were exported", "Exporting takes long", "It exports CSV"}),
        ("exported", {"How do I export logs?", "Logs were exported", "Exporting takes long", "It exports CSV"}),
        ("reply", {"No reply yet", "Two replies came"}),
        ("replies", {"No reply yet", "Two replies came"}),
        ("train", {"Train the model", "Training failed"}),
        ("training", {"Train the model", "Training failed"}),
    ],
)
def test_english_forms_of_a_word(staff_client, make_log, query, expected):
    for question in (
        "How do I export logs?",
        "Logs were exported",
        "Exporting takes long",
        "It exports CSV",
        "No reply yet",
        "Two replies came",
        "Train the model",
        "Training failed",
        "An expert opinion",
    ):
        make_log(question=question, answer="ok")

    assert _questions(staff_client, query) == expected


def test_search_terms_rebuild_reindexes_logs_stored_the_old_way(staff_client, make_log):
    log = make_log(question="대화로그 보관 기간", answer="Logs are exported nightly.")
    # As the analysis before compound parts and English stems stored it.
    ConversationLog.objects.filter(pk=log.pk).update(search_terms=text.fulltext_document(["대화", "보관", "기간"]))
    ConversationLogTerm.objects.filter(log=log).delete()
    assert _questions(staff_client, "로그") == set()

    assert logs_search_terms_rebuild() == 1
    assert _questions(staff_client, "로그") == {"대화로그 보관 기간"}
    assert _questions(staff_client, "export") == {"대화로그 보관 기간"}
    assert logs_search_terms_rebuild() == 0


# --- The admin searches the same way ------------------------------------------

CHANGELIST = "/admin/conversations/conversationlog/"


def _admin_ids(admin_client, q: str, **params) -> list[int]:
    page = admin_client.get(CHANGELIST, {"q": q, **params})
    assert page.status_code == 200
    return [log.pk for log in page.context["cl"].result_list]


def test_admin_search_is_the_api_search(admin_client, staff_client, make_log):
    ate = make_log(question="점심을 먹었다", answer="네.")
    eating = make_log(question="밥 먹는 중", answer="네.")
    compound = make_log(question="대화로그 위치", answer="Logs are exported.")
    make_log(question="로그인 오류", answer="다시 시도하세요.")

    assert _admin_ids(admin_client, "먹다") == [eating.pk, ate.pk]
    assert set(_admin_ids(admin_client, "먹다")) == {
        row["id"] for row in staff_client.get(URL, {"q": "먹다"}).json()["results"]
    }
    assert _admin_ids(admin_client, "로그") == [compound.pk]
    assert _admin_ids(admin_client, "exporting") == [compound.pk]


def test_admin_search_by_end_user_or_session_id(admin_client, make_log):
    mine = make_log(user_id="user-7", session_id="s-1", question="질문 하나")
    make_log(user_id="kim", question="user-7에 대해")

    assert _admin_ids(admin_client, "user-7") == [mine.pk]
    assert _admin_ids(admin_client, "s-1") == [mine.pk]


def test_admin_search_keeps_a_column_ordering(admin_client, make_log):
    slow = make_log(question="결제 문의", latency_ms=50.0)
    fast = make_log(question="결제 질문", latency_ms=10.0)
    # The change list's columns start with the action checkbox.
    column = 1 + ConversationLogAdmin.list_display.index("latency_ms")

    assert _admin_ids(admin_client, "결제") == [fast.pk, slow.pk]  # newest first
    assert _admin_ids(admin_client, "결제", o=f"-{column}") == [slow.pk, fast.pk]
