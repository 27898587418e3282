"""The pathology page /pathology/ in a real headless Chromium, against a live
platform with a real worker (the inference_worker loop and pipeline, the demo
`tiny` extractor and an untrained CLAM) running beside it: a requester
uploads a generated slide, watches it complete, reads the result with its
heatmap over the thumbnail and its region tiles, and cancels a waiting
request; staff see the workers and requeue a failed request. At 1400 and
390 px, with screenshots under test-artifacts/."""

import dataclasses
import threading

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation
from playwright.sync_api import expect

from aiplatform.services import api_key_create
from inference_worker import synthetic
from inference_worker.client import PathologyClient
from inference_worker.config import WorkerConfig
from inference_worker.worker import PipelineAnalyzer, Worker
from pathology.choices import RequestStatus
from pathology.models import PathologyRequest
from pathology.services import protocol
from pathology.services.requests import request_create
from pathology.services.results import error_explain
from tests.factories import StaffFactory, UserFactory
from tests.support.browser import ARTIFACTS

PAGE = "/pathology/"
WIDTHS = (1400, 390)


def test_anonymous_visitor_is_sent_to_the_login_page(db):
    response = Client().get(PAGE)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={PAGE}"


def ko(text: str) -> str:
    with translation.override("ko"):
        return translation.gettext(text)


@pytest.fixture
def platform(live_server, transactional_db, settings, tmp_path):
    settings.PATHOLOGY_LONG_POLL_MAX_SECONDS = 1
    settings.PATHOLOGY_POLL_SECONDS = 0.05
    settings.PATHOLOGY_SLIDE_STORAGE_DIR = str(tmp_path / "server-slides")
    return live_server


@pytest.fixture
def running_worker(platform, monkeypatch):
    """A worker without the server's disk or Orthanc (it downloads uploaded
    slides), serving requests in a thread until the test ends."""
    for name, value in {"FEATURE_EXTRACTOR": "tiny", "PATCH_SIZE": "128", "ALLOW_UNTRAINED_MODEL": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MODEL_PATH", raising=False)
    _key, secret = api_key_create(name="lab-gpu-01", scopes=["worker"])
    config = WorkerConfig.from_env(
        {
            "DJANGO_API_URL": f"{platform.url}/api/pathology",
            "WORKER_API_KEY": secret,
            "WORKER_NAME": "lab-gpu-01",
            "LONG_POLL_WAIT": "1",
            "HEARTBEAT_SECONDS": "0.5",
            "DEVICE": "cpu",
        }
    )
    config = dataclasses.replace(config, heatmap_max_side=1024)
    client = PathologyClient(
        config.api_url, config.api_key, timeout=30, retries=2, backoff=0.05, host=config.host, device="cpu"
    )
    worker = Worker(config, client, PipelineAnalyzer(config, client))
    thread = threading.Thread(target=worker.run_forever, name="pathology-worker", daemon=True)
    thread.start()
    yield worker
    worker.stop()
    thread.join(timeout=30)


def _page_for(browser, live_server, user, width):
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
    # The page's refused upload is a 400 the browser reports; nothing else may be.
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if message.type == "error" and "status of 400" not in message.text else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())
    return context, page, errors


def _loaded(image) -> bool:
    return image.evaluate("img => img.complete && img.naturalWidth > 0")


@pytest.mark.slow
def test_a_requester_uploads_a_slide_and_reads_its_result(browser, platform, running_worker, tmp_path):
    slide = synthetic.write_svs(tmp_path / "biopsy-7.svs", width=2048, height=1536)
    user = UserFactory(username="pathologist")
    someone_else = request_create(requested_by=UserFactory(username="other"), slide_file="not-mine.svs")
    context, page, errors = _page_for(browser, platform, user, 1400)
    page.goto(f"{platform.url}{PAGE}")
    expect(page).to_have_title(f"{ko('Pathology analysis')} · {ko('AI Platform')}")
    expect(page.get_by_test_id("requests-empty")).to_have_text(ko("No requests yet. Ask for an analysis above."))
    expect(page.locator('[data-nav="pathology"]')).to_have_attribute("aria-current", "page")
    # One way of naming the slide at a time.
    expect(page.get_by_test_id("slide-input")).to_be_visible()
    expect(page.get_by_test_id("slide-file-input")).to_be_hidden()
    expect(page.get_by_test_id("series-input")).to_be_hidden()

    # Upload: a file that is not a slide is refused, in plain words, naming nothing technical.
    fake = tmp_path / "photo.svs"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    page.get_by_test_id("slide-input").set_input_files(fake)
    page.get_by_test_id("analyze-submit").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("TIFF/SVS")
    assert not PathologyRequest.objects.filter(requested_by=user).exists()

    # The real slide: uploaded, claimed by the worker, which downloads it, and completed.
    page.get_by_test_id("slide-input").set_input_files(slide)
    page.get_by_test_id("patient-input").fill("P-0042")
    page.get_by_test_id("analyze-submit").click()
    expect(page.get_by_test_id("form-status")).to_have_text(ko("Request sent. It is listed below."))
    row = page.get_by_test_id("request-row")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("request-slide")).to_have_text("biopsy-7.svs")
    detail = page.get_by_test_id("detail")
    expect(detail).to_be_visible()
    expect(page.get_by_test_id("detail-status")).to_have_text(ko("Completed"), timeout=90_000)
    expect(row.get_by_test_id("request-status")).to_have_text(ko("Completed"))
    expect(page.get_by_text("not-mine.svs")).to_have_count(0)

    stored = PathologyRequest.objects.get(requested_by=user)
    result = stored.result
    assert stored.slide_uploaded and stored.worker.name == "lab-gpu-01"
    expect(page.get_by_test_id("detail-label")).to_have_text(result["label"])
    for name, p in result["probabilities"].items():
        expect(page.get_by_test_id(f"probability-{name}")).to_have_text(f"{100 * p:.1f}%")
    thumbnail, heatmap = page.get_by_test_id("detail-thumbnail"), page.get_by_test_id("detail-heatmap")
    expect(thumbnail).to_have_attribute("src", stored.thumbnail_url)
    expect(heatmap).to_have_attribute("src", stored.heatmap_url)
    page.wait_for_function("() => document.getElementById('detail-heatmap').naturalWidth > 0")
    assert _loaded(thumbnail) and _loaded(heatmap)
    assert thumbnail.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [1024, 768]
    # Shown at a readable size, the heatmap exactly over the thumbnail.
    box, over = thumbnail.bounding_box(), heatmap.bounding_box()
    assert box["width"] >= 600 and (over["x"], over["y"], over["width"]) == (box["x"], box["y"], box["width"])
    expect(heatmap).to_have_css("opacity", "0.6")
    page.get_by_test_id("heatmap-opacity").fill("25")
    expect(heatmap).to_have_css("opacity", "0.25")
    page.get_by_test_id("heatmap-opacity").fill("70")
    legend = page.get_by_test_id("heatmap-legend")
    expect(legend).to_contain_text(ko("Low"))
    expect(legend).to_contain_text(ko("High"))
    assert "linear-gradient" in legend.locator(".ramp").evaluate("el => getComputedStyle(el).backgroundImage")
    expect(page.get_by_test_id("region-box")).to_have_count(10)
    tiles = page.get_by_test_id("region-tile")
    expect(tiles).to_have_count(10)
    top = result["top_regions"][0]
    expect(tiles.first).to_contain_text(f"x {top['x']}, y {top['y']}")
    expect(tiles.first).to_contain_text(f"{top['score']:.4f}")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#detail-tiles img')].every(img => img.complete && img.naturalWidth > 0)"
    )
    expect(page.get_by_test_id("fact-worker")).to_contain_text("lab-gpu-01")
    expect(page.get_by_test_id("fact-timings")).to_contain_text(ko("Total"))
    page.get_by_test_id("detail").screenshot(path=str(ARTIFACTS / "pathology-result-1400.png"))
    page.screenshot(path=str(ARTIFACTS / "pathology-requester-1400.png"), full_page=True)

    # A request by file name waits (this worker has no slide storage, so it is not offered it): cancel it.
    page.get_by_test_id("mode-file").check()
    expect(page.get_by_test_id("slide-input")).to_be_hidden()
    page.get_by_test_id("slide-file-input").fill("case-waiting.svs")
    page.get_by_test_id("analyze-submit").click()
    waiting = page.locator('[data-testid="request-row"]', has_text="case-waiting.svs")
    expect(waiting.get_by_test_id("request-status")).to_have_text(ko("Pending"))
    expect(page.get_by_test_id("detail-message")).to_have_text(ko("Waiting for a worker…"))
    waiting.get_by_test_id("request-cancel").click()
    expect(waiting.get_by_test_id("request-status")).to_have_text(ko("Cancelled"))
    assert PathologyRequest.objects.get(slide_file="case-waiting.svs").status == RequestStatus.CANCELLED
    expect(waiting.get_by_test_id("request-requeue")).to_have_count(0)  # staff only

    # The same at a phone's width.
    phone, phone_page, phone_errors = _page_for(browser, platform, user, 390)
    phone_page.goto(f"{platform.url}{PAGE}")
    phone_page.locator('[data-testid="request-row"]', has_text="biopsy-7.svs").get_by_test_id("request-open").click()
    expect(phone_page.get_by_test_id("detail-status")).to_have_text(ko("Completed"))
    phone_page.wait_for_function("() => document.getElementById('detail-heatmap').naturalWidth > 0")
    phone_page.screenshot(path=str(ARTIFACTS / "pathology-requester-390.png"), full_page=True)
    wide = phone_page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391)"
        ".map(e => e.tagName + '.' + e.className).slice(0, 5)"
    )
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390, wide
    phone.close()
    context.close()
    assert errors == [] and phone_errors == []
    assert someone_else.status == RequestStatus.PENDING


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_staff_see_the_workers_and_requeue_a_failed_request(browser, platform, width):
    _key, _secret = api_key_create(name="lab-gpu-02", scopes=["worker"])
    worker = protocol.worker_for_key(api_key=_key, host="gpu-box", device="cuda:0", version="1.0.0")
    failed = request_create(requested_by=UserFactory(username="pathologist"), slide_file="lost.svs")
    protocol.request_update_status(worker=worker, request_id=failed.pk, status=RequestStatus.PROCESSING)
    error = "SlideNotFound: slide file 'lost.svs' not found in the slide storage directory"
    protocol.request_update_status(worker=worker, request_id=failed.pk, status=RequestStatus.FAILED, message=error)
    held = request_create(requested_by=UserFactory(username="other"), slide_file="held.svs")
    protocol.request_update_status(worker=worker, request_id=held.pk, status=RequestStatus.PROCESSING, progress=40)

    context, page, errors = _page_for(browser, platform, StaffFactory(username="lead"), width)
    page.goto(f"{platform.url}{PAGE}")
    workers = page.get_by_test_id("worker-row")
    expect(workers).to_have_count(1)
    expect(workers).to_contain_text("lab-gpu-02")
    expect(workers).to_contain_text("cuda:0")
    expect(workers.get_by_test_id("worker-request")).to_have_text(str(held.pk)[:8])
    rows = page.get_by_test_id("request-row")
    expect(rows).to_have_count(2)  # staff see everyone's

    row = page.locator('[data-testid="request-row"]', has_text="lost.svs")
    expect(row.get_by_test_id("request-status")).to_have_text(ko("Failed"))
    row.get_by_test_id("request-open").click()
    with translation.override("ko"):
        summary = error_explain(error)
    expect(page.get_by_test_id("detail-error-summary")).to_have_text(summary)
    expect(page.get_by_test_id("detail-failure")).to_contain_text(error)
    page.screenshot(path=str(ARTIFACTS / f"pathology-staff-{width}.png"), full_page=True)

    row.get_by_test_id("request-requeue").click()
    expect(row.get_by_test_id("request-status")).to_have_text(ko("Pending"))
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.error) == (RequestStatus.PENDING, 0, "")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    context.close()
    assert errors == []
