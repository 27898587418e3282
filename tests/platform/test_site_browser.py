"""The site's shell in a real headless Chromium, as a person uses it: log in
at /, find the pages through the navigation, switch the language, meet a 404,
on a phone and on a desktop. Screenshots go to test-artifacts/site-*.png."""

import pytest
from playwright.sync_api import expect

from conversations.services.logs import log_record
from tests.factories import PASSWORD, StaffFactory, UserFactory
from tests.support.browser import ARTIFACTS

WIDTHS = {"phone": 390, "desktop": 1400}


def _context(browser, width):
    context = browser.new_context(locale="ko-KR", timezone_id="Europe/Berlin", viewport={"width": width, "height": 900})
    errors: list[str] = []
    page = context.new_page()

    def on_console(message):
        # The 404 page's own status, and the admin's favicon.ico, are expected.
        url = message.location.get("url", "")
        if message.type == "error" and not url.endswith(("/no-such-page/", "/favicon.ico")):
            errors.append(f"{message.text} ({url})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, errors


def _log_in(page, base, username):
    page.goto(f"{base}/")
    page.wait_for_url(f"{base}/accounts/login/?next=/")
    expect(page).to_have_title("로그인 · AI 플랫폼")
    page.get_by_label("사용자 이름").fill(username)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
    page.wait_for_url(f"{base}/")


def _open_menu(page, width):
    if width < 760:
        toggle = page.get_by_test_id("nav-toggle")
        expect(page.locator(".site-nav")).to_be_hidden()
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator(".site-nav")).to_be_visible()


@pytest.mark.slow
@pytest.mark.parametrize("device", list(WIDTHS))
def test_a_user_logs_in_finds_the_pages_and_switches_language(live_server, transactional_db, browser, device):
    width = WIDTHS[device]
    user = UserFactory(username="kim")
    log_record(
        account=user, question="환불 규정이 어떻게 되나요?", answer="", status="completed", user_id="kim", latency_ms=3
    )
    context, page, errors = _context(browser, width)
    base = live_server.url

    page.goto(f"{base}/accounts/login/")
    page.screenshot(path=ARTIFACTS / f"site-login-{device}.png", full_page=True)
    _log_in(page, base, "kim")
    expect(page.get_by_role("heading", name="kim님, 환영합니다")).to_be_visible()
    expect(page.get_by_test_id("home-conversations")).to_contain_text("환불 규정이 어떻게 되나요?")
    # The time is the site's (Seoul), not the browser's (Berlin).
    expect(page.get_by_test_id("home-conversations").locator("time")).to_have_attribute(
        "datetime", __import__("re").compile(r"\+09:00$")
    )
    page.screenshot(path=ARTIFACTS / f"site-home-user-{device}.png", full_page=True)

    _open_menu(page, width)
    nav = page.locator(".site-nav")
    expect(nav.locator("[data-nav=admin]")).to_have_count(0)
    expect(nav.locator("[data-nav=monitoring]")).to_have_count(0)
    nav.locator("[data-nav=conversations]").click()
    page.wait_for_url(f"{base}/conversations/")
    expect(page).to_have_title("대화 기록 · AI 플랫폼")
    expect(nav.locator("[data-nav=conversations]")).to_have_attribute("aria-current", "page")

    # The language switch reloads the same page in English and is remembered.
    if width < 760:
        page.get_by_test_id("nav-toggle").click()
    page.get_by_test_id("language-select").select_option("en")
    page.wait_for_url(f"{base}/conversations/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(f"{base}/")
    expect(page.get_by_role("heading", name="Welcome, kim")).to_be_visible()
    expect(page.get_by_test_id("home-conversations")).to_contain_text("Your latest chats")

    page.goto(f"{base}/no-such-page/")
    expect(page.get_by_test_id("error-page")).to_contain_text("Page not found")
    page.screenshot(path=ARTIFACTS / f"site-404-en-{device}.png", full_page=True)

    if width < 760:
        page.get_by_test_id("nav-toggle").click()
    page.get_by_test_id("logout").click()
    page.wait_for_url(f"{base}/accounts/login/")
    assert errors == []
    context.close()


@pytest.mark.slow
@pytest.mark.parametrize("device", list(WIDTHS))
def test_staff_see_the_administration_link(live_server, transactional_db, browser, device):
    width = WIDTHS[device]
    StaffFactory(username="admin-kim")
    context, page, errors = _context(browser, width)
    _log_in(page, live_server.url, "admin-kim")
    _open_menu(page, width)
    expect(page.get_by_test_id("site-user")).to_contain_text("admin-kim 관리자")
    page.screenshot(path=ARTIFACTS / f"site-home-staff-{device}.png", full_page=True)
    page.locator(".site-nav [data-nav=admin]").click()
    page.wait_for_url(f"{live_server.url}/admin/")
    expect(page.locator("#site-name")).to_contain_text("AI 플랫폼 관리")
    # The footer's guides: the docs/ Markdown, read on the site.
    page.goto(f"{live_server.url}/")
    page.locator(".site-footer").get_by_role("link", name="안내서").click()
    page.wait_for_url(f"{live_server.url}/guide/platform/")
    expect(page.get_by_test_id("guide").locator("h1").first).to_be_visible()
    page.get_by_test_id("guide").get_by_role("link", name="conversations").first.click()
    page.wait_for_url(__import__("re").compile(r".*/guide/conversations/"))
    page.screenshot(path=ARTIFACTS / f"site-guide-{device}.png")
    page.goto(f"{live_server.url}/no-such-page/")
    expect(page.get_by_test_id("error-page")).to_contain_text("페이지를 찾을 수 없습니다")
    page.screenshot(path=ARTIFACTS / f"site-404-staff-{device}.png", full_page=True)
    assert errors == []
    context.close()
