"""The log viewer page /conversations/ in a real headless Chromium: it reads
the logs, stats and exports through the API with the signed-in session."""

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import ConversationLog
from conversations.services.logs import log_feedback_set, log_record
from tests.factories import PASSWORD, StaffFactory, UserFactory
from tests.support.browser import ARTIFACTS

SCREENSHOT = ARTIFACTS / "conversations-log-viewer.png"
SOURCES = [
    {"marker": 1, "chunk_id": 1, "document_id": 1, "title": "안내", "score": 0.8, "excerpt": "...", "cited": True},
    {"marker": 2, "chunk_id": 2, "document_id": 2, "title": "참고", "score": 0.41, "excerpt": "...", "cited": False},
]


def test_anonymous_visitor_is_sent_to_the_login_page(db):
    response = Client().get("/conversations/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/conversations/"


def _new_page(browser, errors: list[str]):
    context = browser.new_context(locale="ko-KR", timezone_id="Asia/Seoul", viewport={"width": 1280, "height": 900})
    page = context.new_page()

    def on_console(message):
        # Admin pages name no icon, so the browser asks for /favicon.ico (404).
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page


def _record(account, *, minutes_ago: int, **values):
    defaults = {
        "user_id": "kim",
        "answer": "맑습니다.",
        "status": "completed",
        "latency_ms": 12.3,
        "provider": "local",
        "model": "extractive-v1",
    }
    created_at = timezone.now() - dt.timedelta(minutes=minutes_ago)
    return log_record(account=account, created_at=created_at, **(defaults | values))


def _logs_of(account) -> list[ConversationLog]:
    """25 logs, newest first: one about 로그, one failed, and fillers."""
    logs = [
        _record(
            account,
            minutes_ago=1,
            question="로그를 어디에 저장하나요?",
            answer="데이터베이스에 저장됩니다 [1].",
            sources=SOURCES,
        ),
        _record(
            account,
            minutes_ago=2,
            user_id="lee",
            question="모델이 응답하지 않는 이유는?",
            answer="",
            status="failed",
            error="The chat model timed out.",
            error_code="upstream_timeout",
            latency_ms=30000,
        ),
    ]
    for n in range(3, 26):
        user_id = "lee" if n % 5 == 0 else "kim"
        logs.append(_record(account, minutes_ago=n, user_id=user_id, question=f"질문 {n:02d}: 오늘 날씨는 어떤가요?"))
    return logs


def _expect_all_closed(page, count: int):
    """Every row says 자세히 (open it), and none shows its sources."""
    expect(page.get_by_test_id("log-open")).to_have_text(["자세히"] * count)
    expect(page.locator('[data-testid="log-open"][aria-expanded="false"]')).to_have_count(count)
    expect(page.locator('[data-testid="log-sources"][hidden]')).to_have_count(count)


def _screenshots(page, name: str):
    """The page at a phone's width and a desktop's, whole."""
    SCREENSHOT.parent.mkdir(exist_ok=True)
    for width in (390, 1400):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def _load(page, action):
    """Do something that fetches the log list, and wait for the answer."""
    with page.expect_response(lambda r: "/api/conversation/logs?" in r.url):
        action()


def _detail(page, log, action):
    """Do something that reads one log's detail, and wait for the answer."""
    with page.expect_response(lambda r: r.url.endswith(f"/api/conversation/logs/{log.pk}")):
        action()


@pytest.mark.slow
def test_log_viewer_lists_filters_pages_and_rates(live_server, transactional_db, browser):
    user = UserFactory(username="viewer")
    other = UserFactory(username="someone-else")
    mine = _logs_of(user)
    rated = log_feedback_set(log=mine[2], rating=-1, comment="날씨를 모르네요", tags=["부정확"])
    _record(other, minutes_ago=0, question="다른 계정의 로그 질문입니다", user_id="kim")
    questions = [log.question for log in mine]

    session = Client()
    session.force_login(user)
    errors: list[str] = []
    context, page = _new_page(browser, errors)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": session.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    # The page shows the user's newest logs at once (20 a page by default),
    # every row closed.
    _load(page, lambda: page.goto(f"{live_server.url}/conversations/"))
    expect(page).to_have_title("대화 기록 · AI 플랫폼")
    rows = page.get_by_test_id("log-row")
    row_questions = page.get_by_test_id("log-question")
    expect(row_questions).to_have_text(questions[:20])
    expect(page.get_by_test_id("empty")).to_be_hidden()
    _expect_all_closed(page, 20)

    # The seed's button loads them again.
    _load(page, lambda: page.get_by_role("button", name="🧾 대화 기록 보기").click())
    expect(row_questions).to_have_text(questions[:20])
    _expect_all_closed(page, 20)
    _load(page, lambda: page.get_by_test_id("page-size").select_option("50"))
    expect(row_questions).to_have_text(questions)
    expect(page.get_by_text("다른 계정의 로그 질문입니다")).to_have_count(0)
    expect(page.get_by_test_id("stat-total")).to_have_text("25")
    expect(page.locator("#stat-failure-rate")).to_have_text("4% (1건)")
    expect(page.get_by_test_id("stat-keywords").locator("li")).to_have_count(5)
    expect(page.get_by_test_id("stat-per-day").locator(".bar").first).to_be_visible()

    # A row shows the time, user, status, model and latency; opening it reads
    # the detail, which shows the sources.
    first = rows.first
    expect(first.get_by_test_id("log-answer")).to_have_text("데이터베이스에 저장됩니다 [1].")
    expect(first.get_by_test_id("log-user")).to_have_text("사용자 kim")
    expect(first.get_by_test_id("log-status")).to_have_text("완료")
    expect(first).to_contain_text("local / extractive-v1")
    expect(first).to_contain_text("12.3 ms")
    assert dt.datetime.fromisoformat(first.locator("time").get_attribute("datetime")) == mine[0].created_at
    expect(first.get_by_test_id("log-sources")).to_be_hidden()
    _detail(page, mine[0], lambda: first.get_by_test_id("log-open").click())
    expect(first.get_by_test_id("log-open")).to_have_attribute("aria-expanded", "true")
    expect(first.get_by_test_id("log-sources").locator("li")).to_have_text(
        ["[1] 안내 (0.80) ✔ 인용", "[2] 참고 (0.41)"]
    )
    expect(first.get_by_test_id("feedback-shown")).to_have_text("평가 없음")

    failed = page.locator('[data-testid="log-row"][data-status="failed"]')
    expect(failed).to_have_count(1)
    expect(failed.get_by_test_id("log-status")).to_have_text("실패")
    expect(failed.get_by_test_id("log-status")).to_have_css("color", "rgb(198, 40, 40)")
    expect(failed.get_by_test_id("log-error")).to_have_text("⚠ upstream_timeout")
    _detail(page, mine[1], lambda: failed.get_by_test_id("log-open").click())
    expect(failed.get_by_test_id("log-error")).to_have_text("⚠ The chat model timed out. (upstream_timeout)")
    expect(failed.get_by_test_id("log-sources")).to_have_text("출처 없음")
    failed.get_by_test_id("log-open").click()
    expect(failed.get_by_test_id("log-open")).to_have_attribute("aria-expanded", "false")
    expect(failed.get_by_test_id("log-sources")).to_be_hidden()
    expect(failed.get_by_test_id("log-error")).to_have_text("⚠ The chat model timed out. (upstream_timeout)")

    # 👍 posts the feedback and the row shows it in place.
    with page.expect_response(lambda r: r.url.endswith(f"/logs/{mine[0].pk}/feedback")) as posted:
        first.get_by_test_id("feedback-up").click()
    assert posted.value.status == 200
    expect(first.get_by_test_id("feedback-shown")).to_have_text("👍")
    expect(first.get_by_test_id("feedback-up")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#stat-feedback")).to_contain_text("👍 1")
    mine[0].refresh_from_db()
    assert mine[0].rating == 1
    expect(first.get_by_test_id("log-sources").locator("li")).to_have_count(2)

    # A closed row knows its comment but not its tags: rating it again reads
    # the detail first, so the tags given before are kept.
    third = rows.nth(2)
    expect(third.get_by_test_id("feedback-shown")).to_have_text("👎 “날씨를 모르네요”")
    with page.expect_response(lambda r: r.url.endswith(f"/logs/{rated.pk}/feedback")) as posted:
        _detail(page, rated, lambda: third.get_by_test_id("feedback-up").click())
    assert posted.value.status == 200
    expect(third.get_by_test_id("feedback-shown")).to_have_text("👍 “날씨를 모르네요” 부정확")
    expect(third.get_by_test_id("log-sources")).to_be_hidden()
    rated.refresh_from_db()
    assert (rated.rating, rated.feedback_comment, rated.feedback_tags) == (1, "날씨를 모르네요", ["부정확"])

    # Paging with the cursor URLs, 10 a page; every page's rows start closed.
    _load(page, lambda: page.get_by_test_id("page-size").select_option("10"))
    expect(row_questions).to_have_text(questions[:10])
    _expect_all_closed(page, 10)
    expect(page.get_by_test_id("page-prev")).to_be_disabled()
    _load(page, lambda: page.get_by_test_id("page-next").click())
    expect(row_questions).to_have_text(questions[10:20])
    _expect_all_closed(page, 10)
    _load(page, lambda: page.get_by_test_id("page-next").click())
    expect(row_questions).to_have_text(questions[20:])
    expect(page.get_by_test_id("page-next")).to_be_disabled()
    _load(page, lambda: page.get_by_test_id("page-prev").click())
    expect(row_questions).to_have_text(questions[10:20])

    # Filter by end user; the stats and the export links follow the filters.
    page.locator("#f-user_id").fill("lee")
    _load(page, lambda: page.get_by_test_id("load-logs").click())
    lee = [log.question for log in mine if log.user_id == "lee"]
    expect(row_questions).to_have_text(lee)
    expect(page.get_by_test_id("stat-total")).to_have_text(str(len(lee)))

    # Korean search: 로그 finds the log that says 로그를, and only that one.
    page.locator("#f-user_id").fill("")
    page.locator("#f-q").fill("로그")
    page.locator("#f-ordering").select_option("created_at")
    _load(page, lambda: page.get_by_test_id("load-logs").click())
    expect(row_questions).to_have_text(["로그를 어디에 저장하나요?"])
    expect(page.get_by_test_id("stat-total")).to_have_text("1")
    for name, file_format in (("export-csv", "csv"), ("export-jsonl", "jsonl")):
        href = page.get_by_test_id(name).get_attribute("href")
        assert urlsplit(href).path == f"/api/conversation/logs/export/{file_format}"
        assert parse_qs(urlsplit(href).query) == {"q": ["로그"], "ordering": ["created_at"]}

    # A period with no logs shows the empty state.
    page.locator("#f-q").fill("")
    page.locator("#f-date_from").fill("2000-01-01")
    page.locator("#f-date_to").fill("2000-01-31")
    _load(page, lambda: page.get_by_test_id("load-logs").click())
    expect(rows).to_have_count(0)
    expect(page.get_by_test_id("empty")).to_have_text("조건에 맞는 대화 기록이 없습니다.")
    expect(page.get_by_test_id("stat-total")).to_have_text("0")
    href = page.get_by_test_id("export-csv").get_attribute("href")
    assert parse_qs(urlsplit(href).query) == {
        "date_from": ["2000-01-01"],
        "date_to": ["2000-01-31"],
        "ordering": ["created_at"],
    }

    page.locator("#f-date_from").fill("")
    page.locator("#f-date_to").fill("")
    page.locator("#f-ordering").select_option("-created_at")
    _load(page, lambda: page.get_by_test_id("load-logs").click())
    expect(row_questions).to_have_text(questions[:10])
    expect(page.get_by_test_id("empty")).to_be_hidden()
    expect(page.get_by_test_id("stat-total")).to_have_text("25")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    _screenshots(page, "conversations-log-viewer-user")
    assert errors == []

    # The API's refusals are shown next to the form (the browser also logs the 400s).
    # A period that ends before it starts names both dates, and no rows stay
    # on screen as if they matched it.
    page.locator("#f-date_from").fill("2026-11-23")
    page.locator("#f-date_to").fill("2026-11-22")
    _load(page, lambda: page.get_by_test_id("load-logs").click())
    expect(page.get_by_test_id("form-error")).to_be_visible()
    expect(page.get_by_test_id("form-error")).to_contain_text("date_from")
    expect(page.get_by_test_id("form-error")).to_contain_text("date_to")
    expect(rows).to_have_count(0)
    expect(page.get_by_test_id("empty")).to_be_hidden()
    expect(page.get_by_test_id("stat-total")).to_have_text("—")
    page.screenshot(path=str(ARTIFACTS / "conversations-log-viewer-inverted-range.png"), full_page=True)
    page.locator("#f-date_from").fill("")
    page.locator("#f-date_to").fill("")

    page.locator("#f-q").fill("가" * 201)
    _load(page, lambda: page.get_by_test_id("load-logs").click())
    expect(page.get_by_test_id("form-error")).to_be_visible()
    expect(page.get_by_test_id("form-error")).to_contain_text("200")
    assert all("status of 400" in error for error in errors), errors
    context.close()


@pytest.mark.slow
def test_staff_signs_in_through_the_login_page_and_sees_every_account(live_server, transactional_db, browser):
    staff = StaffFactory(username="auditor")
    _record(UserFactory(username="one"), minutes_ago=2, question="첫 번째 계정의 질문")
    _record(UserFactory(username="two"), minutes_ago=1, question="두 번째 계정의 질문")
    _record(None, minutes_ago=3, question="API 키로 남긴 질문")

    errors: list[str] = []
    context, page = _new_page(browser, errors)
    page.goto(f"{live_server.url}/accounts/login/?next=/conversations/")
    page.locator("#id_username").fill(staff.username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/conversations/")
    expect(page.locator(".page-title")).to_contain_text("auditor · 모든 계정")

    expect(page.get_by_test_id("log-question")).to_have_text(
        ["두 번째 계정의 질문", "첫 번째 계정의 질문", "API 키로 남긴 질문"]
    )
    _expect_all_closed(page, 3)
    expect(page.get_by_test_id("stat-total")).to_have_text("3")
    _load(page, lambda: page.get_by_test_id("load-logs").click())
    expect(page.get_by_test_id("log-question")).to_have_count(3)
    _screenshots(page, "conversations-log-viewer-staff")
    assert errors == []
    context.close()


@pytest.mark.slow
def test_log_viewer_reads_in_english_after_the_language_switch(live_server, transactional_db, browser):
    # English data, so that any Hangul left on the page is one of our texts.
    user = UserFactory(username="viewer")
    _record(
        user,
        minutes_ago=1,
        user_id="kim",
        session_id="s-1",
        question="Where are the logs stored?",
        answer="In the database [1].",
        sources=[{**SOURCES[0], "title": "Guide"}],
    )
    _record(
        user,
        minutes_ago=2,
        question="Why does the model not answer?",
        answer="",
        status="failed",
        error_code="upstream_timeout",
        latency_ms=1234.5,
    )

    errors: list[str] = []
    context, page = _new_page(browser, errors)
    page.goto(f"{live_server.url}/accounts/login/?next=/conversations/")
    page.locator("#id_username").fill(user.username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/conversations/")
    expect(page).to_have_title("대화 기록 · AI 플랫폼")

    # The header's switch reloads the page in English.
    with page.expect_response(lambda r: "/api/conversation/logs?" in r.url):
        page.get_by_test_id("language-select").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_title("Conversation logs · AI Platform")
    expect(page.get_by_role("heading", name="Conversation logs")).to_be_visible()
    expect(page.get_by_role("button", name="🧾 Show the logs")).to_be_visible()
    expect(page.get_by_label("Search words")).to_have_attribute("placeholder", "Search questions and answers")
    expect(page.locator("#f-status option")).to_have_text(["All", "Completed", "Failed", "Interrupted"])
    expect(page.locator("#f-ordering option")).to_have_text(["Newest first", "Oldest first", "Slowest first"])
    expect(page.locator("#stats dt")).to_have_text(["Total", "Failure rate", "Latency p50", "Latency p95", "Feedback"])

    rows = page.get_by_test_id("log-row")
    expect(rows).to_have_count(2)
    first, failed = rows.nth(0), rows.nth(1)
    expect(first.get_by_test_id("log-status")).to_have_text("Completed")
    expect(first.get_by_test_id("log-user")).to_have_text("User kim · Session s-1")
    expect(first.get_by_test_id("feedback-shown")).to_have_text("Not rated")
    expect(first.get_by_test_id("feedback-up")).to_have_attribute("title", "Thumbs up")
    expect(failed.get_by_test_id("log-status")).to_have_text("Failed")
    # Numbers in the page's language: 1,234.5 (English), not 1.234,5 or a Korean form.
    expect(failed).to_contain_text("1,234.5 ms")
    expect(page.locator("#stat-failure-rate")).to_have_text("50% (1 failed)")
    expect(page.get_by_test_id("log-open")).to_have_text(["Details", "Details"])
    with page.expect_response(lambda r: r.url.endswith(f"/api/conversation/logs/{first.get_attribute('data-log-id')}")):
        first.get_by_test_id("log-open").click()
    expect(first.get_by_test_id("log-open")).to_have_text("Hide")
    expect(first.get_by_test_id("log-sources")).to_have_text("[1] Guide (0.80) ✔ cited")

    # No Korean is left anywhere on the page but the switch's own name for Korean.
    body = page.locator("body").inner_text().replace("한국어", "")
    assert not re.search(r"[가-힣]", body), body
    _screenshots(page, "conversations-log-viewer-en")

    # The API's messages follow the language too, and so does the empty state.
    page.locator("#f-date_from").fill("2026-11-23")
    page.locator("#f-date_to").fill("2026-11-22")
    _load(page, lambda: page.get_by_test_id("load-logs").click())
    expect(page.get_by_test_id("form-error")).to_contain_text("Must not be after date_to.")
    page.locator("#f-date_from").fill("2000-01-01")
    page.locator("#f-date_to").fill("2000-01-31")
    _load(page, lambda: page.get_by_test_id("load-logs").click())
    expect(page.get_by_test_id("empty")).to_have_text("No conversation logs match the filters.")
    assert all("status of 400" in error for error in errors), errors
    context.close()
