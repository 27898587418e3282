"""The model page /model/ in a real headless Chromium, at a phone's width
(390 px) and a desktop's (1400 px): status, metrics chart and versions for
everyone, a predict box that shows abstentions as "unknown"; for staff,
training with the activation choice (a worse version is not activated and
the page says so), activation and rollback, and the comparison of two
versions. Every action goes through the JSON API with the session."""

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from modeltrainer import charts
from modeltrainer.choices import ExampleSource
from modeltrainer.models import ModelVersion
from modeltrainer.services import examples, training
from tests.factories import StaffFactory, UserFactory
from tests.modeltrainer.conftest import failed_version
from tests.support.browser import ARTIFACTS

PAGE = "/model/"
WIDTHS = [390, 1400]
# Examples that make the next version worse: generic texts whose labels
# follow nothing in them (as the rated chats of the user's story did).
NOISE = [
    {"text": f"{word} 관련 문의 {n}", "label": label}
    for n, (word, label) in enumerate([("일반", "error"), ("기타", "security"), ("일반", "performance")] * 6)
]


def test_anonymous_visitor_is_sent_to_the_login_page(db):
    response = Client().get(PAGE)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={PAGE}"


def test_the_former_metrics_page_shows_the_model_page(db):
    client = Client()
    client.force_login(UserFactory())

    response = client.get("/model/metrics/")

    assert response.status_code == 200
    assert response.templates[0].name == "modeltrainer/model.html"
    assert 'id="metrics"' in response.content.decode()


def _page_of(browser, live_server, user, width: int):
    session = Client()
    session.force_login(user)
    context = browser.new_context(locale="ko-KR", timezone_id="Asia/Seoul", viewport={"width": width, "height": 900})
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": session.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, errors


@pytest.fixture
def model_settings(settings):
    # The page's training runs at once in the request (no task worker here),
    # and a newly activated version serves at the next request.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}}
    settings.MODEL_RELOAD_SECONDS = 0
    settings.MODEL_MIN_CONFIDENCE = 0.5
    return settings


def _fits(page) -> None:
    """Nothing sticks out sideways (tables scroll inside their card)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0


def _predict(page, text: str):
    page.fill("#predict-text", text)
    with page.expect_response(lambda r: r.url.endswith("/api/model/predict") and r.request.method == "POST"):
        page.click("#predict-button")


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_a_user_sees_status_metrics_and_tries_predictions(
    browser, live_server, transactional_db, trained_version, model_settings, width
):
    first = trained_version(tokenizer="char")
    second = trained_version(tokenizer="char", activate="never")
    failed_version(3)
    context, page, errors = _page_of(browser, live_server, UserFactory(username="analyst"), width)

    page.goto(f"{live_server.url}{PAGE}")

    expect(page.locator("#active-version")).to_have_attribute("data-version", "1")
    expect(page.locator("#active-macro-f1")).to_have_text(str(first.metrics["macro_f1"]))
    expect(page.locator("#training")).to_be_hidden()
    # The newest finished version is v3, which failed.
    expect(page.locator("#latest-decision")).to_have_attribute("data-version", "3")
    expect(page.locator("#latest-decision")).to_have_attribute("data-result", "failed")
    # No staff tools.
    for selector in ("#train-form", "#compare", "button.activate"):
        expect(page.locator(selector)).to_have_count(0)
    # The chart: one point per ready version in each series.
    chart = page.locator("#metrics-chart")
    expect(chart.locator("polyline")).to_have_count(2)
    top, height = charts.TOP, charts.HEIGHT - charts.TOP - charts.BOTTOM
    points = chart.locator("polyline[data-series=macro_f1]").get_attribute("points").split()
    assert [float(point.split(",")[1]) for point in points] == [
        round(top + (1 - version.metrics["macro_f1"]) * height, 1) for version in (first, second)
    ]
    # Versions newest first, status labels translated (not the raw value).
    rows = page.locator("#versions tbody tr")
    assert [rows.nth(i).get_attribute("data-version") for i in range(3)] == ["3", "2", "1"]
    statuses = rows.locator(".badge.status")
    assert [statuses.nth(i).get_attribute("data-status") for i in range(3)] == ["failed", "ready", "ready"]
    assert "ready" not in statuses.all_inner_texts() and "failed" not in statuses.all_inner_texts()
    expect(rows.nth(0).locator("td.num")).to_have_text(["\u2013", "\u2013", "0"])  # a failed version has no scores
    expect(rows.nth(2).locator(".decision-badge")).to_have_attribute("data-result", "activated")
    expect(rows.nth(1).locator(".decision-badge")).to_have_attribute("data-result", "neutral")

    # A text of the trained domain gets its label with every probability.
    _predict(page, "관리자 계정 로그인 시도가 차단되었습니다")
    expect(page.locator("#predict-label")).to_have_text("security")
    expect(page.locator("#predict-label")).to_have_attribute("data-abstained", "false")
    expect(page.locator("#predict-probabilities li")).to_have_count(3)
    expect(page.locator("#predict-probabilities li").first).to_have_attribute("data-label", "security")
    expect(page.locator("#predict-summary")).to_contain_text("v1")
    # A text about nothing it learned: "unknown", and what it leaned to.
    _predict(page, "hello world")
    expect(page.locator("#predict-label")).to_have_attribute("data-abstained", "true")
    expect(page.locator("#predict-label")).not_to_have_text("security")
    leaned = page.locator("#predict-probabilities li[data-top=true]").get_attribute("data-label")
    expect(page.locator("#predict-summary")).to_contain_text(leaned)
    expect(page.locator("#predict-summary")).to_contain_text("50%")
    expect(page.locator("#predict-probabilities li")).to_have_count(3)

    _fits(page)
    page.screenshot(path=str(ARTIFACTS / f"modeltrainer-page-user-{width}.png"), full_page=True)
    assert errors == []
    context.close()


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_staff_trains_a_worse_version_that_is_kept_out_then_activates_and_rolls_back(
    browser, live_server, transactional_db, trained_version, model_settings, width
):
    first = trained_version(tokenizer="char")
    examples.examples_add(rows=list(enumerate(NOISE, start=1)), source=ExampleSource.UPLOAD)
    context, page, errors = _page_of(browser, live_server, StaffFactory(username="operator"), width)
    page.goto(f"{live_server.url}{PAGE}")
    expect(page.locator("#compare-empty")).to_be_visible()  # one ready version only

    # Train "if not worse" (the default choice).
    expect(page.locator("#train-activate")).to_have_value("if_better")
    page.select_option("#train-tokenizer", "char")
    with page.expect_navigation():  # the page follows the training and shows itself anew when it is done
        page.click("#train-button")

    second = ModelVersion.objects.get(number=2)
    assert second.status == "ready" and not second.active
    assert second.metrics["macro_f1"] < first.metrics["macro_f1"]
    decision = page.locator("#latest-decision")
    expect(decision).to_have_attribute("data-version", "2")
    expect(decision).to_have_attribute("data-result", "kept")
    expect(page.locator("#latest-reason")).to_contain_text(str(second.metrics["macro_f1"]))
    expect(page.locator("#latest-reason")).to_contain_text(str(first.metrics["macro_f1"]))
    expect(page.locator("#active-version")).to_have_attribute("data-version", "1")
    row2 = page.locator("#versions tr[data-version='2']")
    expect(row2.locator(".decision-badge")).to_have_attribute("data-result", "kept")
    expect(row2.locator("td.reason")).to_contain_text("v1")

    # The comparison: v2 against the active v1, worse on macro F1.
    expect(page.locator("#compare-version")).to_have_value(str(second.pk))
    expect(page.locator("#compare-against")).to_have_value(str(first.pk))
    expect(page.locator("#compare-result")).to_be_visible()
    macro = page.locator("#compare-table tr[data-key=macro_f1]")
    expect(macro.locator("td").nth(1)).to_have_text(f"{second.metrics['macro_f1']:.4f}")
    expect(macro.locator("td").nth(2)).to_have_text(f"{first.metrics['macro_f1']:.4f}")
    expect(macro.locator("td.delta")).to_have_attribute("data-sign", "down")
    delta = round(second.metrics["macro_f1"] - first.metrics["macro_f1"], 4)
    expect(macro.locator("td.delta")).to_have_text(f"{delta:.4f}")
    expect(page.locator("#compare-table tr[data-key^='label:']")).to_have_count(3)
    page.screenshot(path=str(ARTIFACTS / f"modeltrainer-page-staff-kept-{width}.png"), full_page=True)

    # Activate v2 by hand, then roll back to v1.
    with page.expect_navigation():
        row2.locator("button.activate").click()
    expect(page.locator("#active-version")).to_have_attribute("data-version", "2")
    assert ModelVersion.objects.get(active=True).number == 2
    row1 = page.locator("#versions tr[data-version='1']")
    expect(row1.locator("button.activate")).to_be_visible()
    rollback_label = row1.locator("button.activate").inner_text()
    expect(page.locator("#versions tr[data-version='2'] button.activate")).to_have_count(0)
    with page.expect_navigation():
        row1.locator("button.activate").click()
    expect(page.locator("#active-version")).to_have_attribute("data-version", "1")
    assert ModelVersion.objects.get(active=True).number == 1
    activate_label = page.locator("#versions tr[data-version='2'] button.activate").inner_text()
    assert rollback_label != activate_label  # "roll back" to an older version, "activate" a newer one

    # Forced: the worse version goes live.
    page.select_option("#train-tokenizer", "char")
    page.select_option("#train-activate", "always")
    with page.expect_navigation():
        page.click("#train-button")
    expect(page.locator("#active-version")).to_have_attribute("data-version", "3")
    expect(page.locator("#latest-decision")).to_have_attribute("data-result", "activated")

    _fits(page)
    page.screenshot(path=str(ARTIFACTS / f"modeltrainer-page-staff-{width}.png"), full_page=True)
    assert errors == []
    context.close()


@pytest.mark.slow
def test_the_page_follows_a_training_in_progress(browser, live_server, transactional_db, trained_version, settings):
    trained_version(tokenizer="char")
    queued, _created = training.model_version_train(enqueue=False, tokenizer="char")
    context, page, errors = _page_of(browser, live_server, StaffFactory(), 1400)

    page.goto(f"{live_server.url}{PAGE}")
    expect(page.locator("#training")).to_be_visible()
    expect(page.locator("#train-button")).to_be_disabled()
    ModelVersion.objects.filter(pk=queued.pk).update(status="training", progress=50, stage="fitting")
    expect(page.locator("#training-bar")).to_have_attribute("style", "width: 50%;")
    expect(page.locator("#training-text")).to_contain_text("50%")

    ModelVersion.objects.filter(pk=queued.pk).update(status="queued")
    with page.expect_navigation(timeout=15_000):
        training.model_version_run(version_id=queued.pk)
    expect(page.locator("#training")).to_be_hidden()
    expect(page.locator("#latest-decision")).to_have_attribute("data-version", "2")
    expect(page.locator("#train-button")).to_be_enabled()
    assert errors == []
    context.close()
