"""The metrics page /model/metrics/ in a real headless Chromium: the active
version, the accuracy and macro F1 chart drawn as SVG on the server, the
label distribution and the version history."""

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from modeltrainer import charts
from modeltrainer.choices import ExampleSource
from modeltrainer.services import examples, training
from tests.factories import UserFactory
from tests.modeltrainer.conftest import failed_version
from tests.support.browser import ARTIFACTS

PAGE = "/model/metrics/"
SCREENSHOT = ARTIFACTS / "modeltrainer-metrics.png"
# What the versions table shows for a missing value (an en dash).
NO_VALUE = "\u2013"
# Uploaded after the first training: four more of an existing label and a new one.
MORE_ROWS = [
    {"text": "메시지 큐 소비자가 예외로 중단되었습니다", "label": "error"},
    {"text": "the report job failed with a timeout error", "label": "error"},
    {"text": "이미지 변환 작업이 오류로 실패했습니다", "label": "error"},
    {"text": "webhook delivery failed with an exception", "label": "error"},
    {"text": "새 버전을 운영 서버에 배포했습니다", "label": "deployment"},
    {"text": "deployed release 2.4 to production", "label": "deployment"},
    {"text": "배포 후 롤백을 수행했습니다", "label": "deployment"},
]


def test_anonymous_visitor_is_sent_to_the_login_page(db):
    response = Client().get(PAGE)

    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={PAGE}"


@pytest.fixture
def signed_in_page(browser, live_server, transactional_db):
    """A page of a browser signed in as a plain (not staff) user, and the
    list the page's console errors are collected in."""
    session = Client()
    session.force_login(UserFactory(username="analyst"))
    context = browser.new_context(locale="ko-KR", timezone_id="Asia/Seoul", viewport={"width": 1280, "height": 900})
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
    yield page, errors
    context.close()


def _points(polyline) -> list[tuple[float, float]]:
    return [tuple(float(n) for n in pair.split(",")) for pair in polyline.get_attribute("points").split()]


@pytest.mark.slow
def test_metrics_page_shows_the_active_version_chart_labels_and_history(
    live_server, transactional_db, trained_version, signed_in_page
):
    first = trained_version()
    added = examples.examples_add(rows=list(enumerate(MORE_ROWS, start=1)), source=ExampleSource.COMMAND)
    assert added.accepted == len(MORE_ROWS)
    second = trained_version(activate=False)
    failed_version(3)
    queued, _created = training.model_version_train(enqueue=False)
    first.refresh_from_db()
    assert (first.active, second.active, queued.number) == (True, None, 4)
    ready = [first, second]

    page, errors = signed_in_page
    page.goto(f"{live_server.url}{PAGE}")
    expect(page).to_have_title("모델 지표 · AI 플랫폼")
    expect(page.locator("header")).to_contain_text("analyst")

    # The active version is v1 (v2 is newer but was not activated).
    expect(page.locator("#active-version")).to_have_text(
        f"v1 · 로지스틱 회귀 · 형태소 (Kiwi) · 정확도 {first.metrics['accuracy']} · "
        f"macro F1 {first.metrics['macro_f1']} · 예제 24건"
    )
    expect(page.locator("#training")).to_have_text("v4 학습 중 (0%, queued)")

    # One line per series, one point per ready version, from left to right
    # across the plot, at the height of its value.
    chart = page.locator("#metrics-chart")
    expect(chart).to_be_visible()
    expect(page.locator("#no-versions")).to_have_count(0)
    top, height = charts.TOP, charts.HEIGHT - charts.TOP - charts.BOTTOM
    lines = chart.locator("polyline")
    expect(lines).to_have_count(2)
    assert [lines.nth(i).get_attribute("data-series") for i in range(2)] == ["accuracy", "macro_f1"]
    for i, key in enumerate(["accuracy", "macro_f1"]):
        points = _points(lines.nth(i))
        assert len(points) == len(ready)
        assert [x for x, _y in points] == [charts.LEFT, charts.WIDTH - charts.RIGHT]
        assert [y for _x, y in points] == [round(top + (1 - version.metrics[key]) * height, 1) for version in ready]
    expect(chart.locator("circle")).to_have_count(2 * len(ready))
    expect(chart.locator("text", has_text="v")).to_have_text(["v1", "v2"])
    expect(page.locator(".legend span")).to_have_text(["정확도 accuracy", "macro F1"])

    # Examples per label, most first, bars as wide as their share of the largest.
    bars = page.locator("#label-bars .bar")
    expect(bars.locator("span:first-child")).to_have_text(["error", "performance", "security", "deployment"])
    expect(bars.locator(".num")).to_have_text(["12", "8", "8", "3"])
    widths = [bars.nth(i).locator("div").bounding_box()["width"] for i in range(4)]
    assert widths[1] == pytest.approx(widths[0] * 8 / 12, rel=0.02)
    assert widths[3] == pytest.approx(widths[0] * 3 / 12, rel=0.02)
    expect(page.locator("h2", has_text="레이블 분포")).to_contain_text("(command 7, upload 24)")

    # The finished versions, newest first; the queued one is not among them.
    rows = page.locator("#versions tbody tr")
    expect(rows).to_have_count(3)
    assert [rows.nth(i).get_attribute("data-version") for i in range(3)] == ["3", "2", "1"]
    expect(rows.locator(".badge")).to_have_text(["failed", "ready", "ready"])
    expect(rows.locator("td:first-child")).to_have_text(["v3", "v2", "v1 ✅"])
    expect(rows.nth(0).locator("td.num")).to_have_text([NO_VALUE, NO_VALUE, "0", NO_VALUE])
    expect(rows.nth(1).locator("td.num")).to_have_text(
        [str(second.metrics["accuracy"]), str(second.metrics["macro_f1"]), "31", str(second.duration_s)]
    )
    expect(rows.nth(2).locator("td.num").nth(2)).to_have_text("24")
    expect(rows.nth(0).locator(".badge")).to_have_css("color", "rgb(198, 40, 40)")

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert errors == []


@pytest.mark.slow
def test_metrics_page_without_versions_says_so(live_server, transactional_db, signed_in_page):
    page, errors = signed_in_page
    page.goto(f"{live_server.url}{PAGE}")

    expect(page.locator("#no-versions")).to_have_text("아직 학습을 마친 버전이 없습니다.")
    expect(page.locator("#metrics-chart")).to_have_count(0)
    expect(page.locator("#active-version")).to_have_text(
        "활성화된 모델이 없습니다. 학습 예제를 올리고 학습을 시작하세요."
    )
    expect(page.locator("#training")).to_have_count(0)
    expect(page.locator("#label-bars")).to_have_text("학습 예제가 없습니다.")
    expect(page.locator("#versions tbody tr")).to_have_count(0)

    # A failed version is listed, but there is still nothing to draw.
    failed_version(1)
    page.reload()
    expect(page.locator("#no-versions")).to_be_visible()
    expect(page.locator("#metrics-chart")).to_have_count(0)
    expect(page.locator("#versions tbody tr .badge")).to_have_text(["failed"])
    assert errors == []
