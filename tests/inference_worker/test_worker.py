"""The worker loop against the real platform (a live server), with small
analyzers in place of the CLAM pipeline."""

import dataclasses
import threading
import time

import pytest

from aiplatform.services import api_key_create
from inference_worker.client import PathologyClient, ServerUnavailable
from inference_worker.config import WorkerConfig
from inference_worker.worker import Worker
from pathology.choices import RequestStatus
from pathology.models import PathologyRequest
from pathology.services.requests import request_cancel, request_create
from tests.factories import UserFactory
from tests.support.pathology_pipeline import png

RESULT = {
    "label": "tumor",
    "probabilities": {"tumor": 0.8, "normal": 0.2},
    "top_regions": [{"x": 0, "y": 0, "score": 1.0}],
}


class FixedAnalyzer:
    def __init__(self):
        self.seen = []
        self.lock = threading.Lock()

    def analyze(self, request, progress):
        with self.lock:
            self.seen.append(request["request_id"])
        progress(50, "patches")
        return {"result": RESULT, "heatmap_png": png()}


class BrokenAnalyzer:
    def analyze(self, request, progress):
        raise FileNotFoundError(f"slide {request['slide_file']} not found")


class SlowAnalyzer:
    """Reports progress every 0.1 s for `seconds`; `during(step)` runs at each step."""

    def __init__(self, seconds, during=None):
        self.seconds = seconds
        self.during = during or (lambda step: None)
        self.steps = 0

    def analyze(self, request, progress):
        steps = int(self.seconds / 0.1)
        for step in range(steps):
            progress(int(100 * step / steps), f"patches {step}/{steps}")
            self.steps = step + 1
            self.during(step)
            time.sleep(0.1)
        return {"result": RESULT, "heatmap_png": png()}


def worker_for(api_url, analyzer, name="lab-1", heartbeat=0.2):
    _key, secret = api_key_create(name=name, scopes=["worker"])
    config = WorkerConfig.from_env(
        {
            "DJANGO_API_URL": api_url,
            "WORKER_API_KEY": secret,
            "LONG_POLL_WAIT": "1",
            "HEARTBEAT_SECONDS": str(heartbeat),
            "WORKER_NAME": name,
        }
    )
    client = PathologyClient(config.api_url, config.api_key, timeout=10, retries=2, backoff=0.05, host=config.host)
    return Worker(config, client, analyzer)


def test_run_once_completes_a_request_once(api_url):
    created = request_create(requested_by=UserFactory(), slide_file="x.svs")
    analyzer = FixedAnalyzer()
    worker = worker_for(api_url, analyzer)

    assert worker.run_once() is True
    assert worker.run_once() is False  # nothing left: the long poll answers empty

    assert analyzer.seen == [str(created.pk)]
    created.refresh_from_db()
    assert created.status == RequestStatus.COMPLETED
    assert created.result["label"] == "tumor"
    assert created.worker.name == "lab-1"
    assert created.heatmap.read().startswith(b"\x89PNG")


def test_the_api_shows_the_completed_request_with_its_heatmap(api_url, live_server):
    import requests

    owner = UserFactory()
    created = request_create(requested_by=owner, slide_file="x.svs")
    worker_for(api_url, FixedAnalyzer()).run_once()
    _key, secret = api_key_create(name="viewer", scopes=["service"], owner=owner)
    headers = {"X-API-Key": secret}

    shown = requests.get(f"{api_url}/requests/{created.pk}/", headers=headers, timeout=10)
    heatmap = requests.get(f"{api_url}/requests/{created.pk}/heatmap/", headers=headers, timeout=10)

    assert shown.status_code == 200, shown.text
    assert shown.json()["status"] == "completed"
    assert shown.json()["heatmap_url"]
    assert heatmap.status_code == 200
    assert heatmap.content == png()


def test_two_workers_complete_six_requests_each_exactly_once(api_url):
    user = UserFactory()
    created = {str(request_create(requested_by=user, slide_file=f"s{n}.svs").pk) for n in range(6)}
    analyzer = FixedAnalyzer()
    workers = [worker_for(api_url, analyzer, name=f"lab-{n}") for n in (1, 2)]
    errors = []

    def serve(worker):
        deadline = time.monotonic() + 15
        try:
            while time.monotonic() < deadline:
                if PathologyRequest.objects.filter(status=RequestStatus.PENDING).count() == 0:
                    return
                worker.run_once()
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=serve, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(analyzer.seen) == sorted(created)  # each analysed once
    done = PathologyRequest.objects.filter(status=RequestStatus.COMPLETED)
    assert {str(pk) for pk in done.values_list("pk", flat=True)} == created
    assert set(done.values_list("attempts", flat=True)) == {1}


def test_an_analysis_error_fails_the_request_with_the_error(api_url):
    created = request_create(requested_by=UserFactory(), slide_file="missing.svs")

    assert worker_for(api_url, BrokenAnalyzer()).run_once() is True

    created.refresh_from_db()
    assert created.status == RequestStatus.FAILED
    assert created.error == "FileNotFoundError: slide missing.svs not found"


def test_heartbeats_report_progress_and_renew_the_lease(api_url):
    created = request_create(requested_by=UserFactory(), slide_file="x.svs")
    seen = {}

    def look(step):
        if step in (1, 12):
            current = PathologyRequest.objects.get(pk=created.pk)
            seen[step] = (current.progress, current.message, current.lease_expires_at)

    worker_for(api_url, SlowAnalyzer(1.5, during=look), heartbeat=0.2).run_once()

    progress, message, lease = seen[12]
    assert progress > 0 and message.startswith("patches ")
    assert lease > seen[1][2]  # renewed since the claim
    created.refresh_from_db()
    assert created.status == RequestStatus.COMPLETED


def test_a_request_cancelled_during_the_analysis_is_dropped_quietly(api_url):
    created = request_create(requested_by=UserFactory(), slide_file="x.svs")

    def cancel(step):
        if step == 2:
            request_cancel(request=PathologyRequest.objects.get(pk=created.pk))

    analyzer = SlowAnalyzer(3, during=cancel)
    started = time.monotonic()

    assert worker_for(api_url, analyzer, heartbeat=0.1).run_once() is True

    assert analyzer.steps < 10  # stopped at a progress call soon after the cancel
    assert time.monotonic() - started < 2
    created.refresh_from_db()
    assert (created.status, created.error, created.result) == (RequestStatus.CANCELLED, "", None)


def test_a_stopped_worker_claims_nothing(api_url):
    created = request_create(requested_by=UserFactory(), slide_file="x.svs")
    worker = worker_for(api_url, FixedAnalyzer())

    worker.stop()
    worker.run_forever()  # returns at once

    assert worker.run_once() is False
    created.refresh_from_db()
    assert created.status == RequestStatus.PENDING


def test_stop_during_a_request_finishes_it_then_exits(api_url):
    first = request_create(requested_by=UserFactory(), slide_file="a.svs")
    second = request_create(requested_by=UserFactory(), slide_file="b.svs")
    worker = worker_for(api_url, None)
    worker.analyzer = SlowAnalyzer(0.5, during=lambda step: step == 1 and worker.stop())

    worker.run_forever()

    statuses = sorted(PathologyRequest.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True))
    assert statuses == [RequestStatus.COMPLETED, RequestStatus.PENDING]


def test_a_second_stop_hands_the_current_request_back_then_exits(api_url):
    created = request_create(requested_by=UserFactory(), slide_file="a.svs")
    worker = worker_for(api_url, None)
    worker.analyzer = SlowAnalyzer(5, during=lambda step: step in (1, 2) and worker.stop())

    started = time.monotonic()
    worker.run_forever()

    assert time.monotonic() - started < 3, "the analysis was not finished"
    assert worker.analyzer.steps == 3
    created.refresh_from_db()
    assert (created.status, created.attempts, created.worker) == (RequestStatus.PENDING, 1, None)
    assert "stopped during the analysis" in created.message


def test_an_unreachable_server_ends_run_once_with_a_clear_error():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = WorkerConfig.from_env({"DJANGO_API_URL": f"http://127.0.0.1:{port}/api/pathology", "WORKER_API_KEY": "k"})
    client = PathologyClient(config.api_url, config.api_key, timeout=2, connect_timeout=1, retries=2, backoff=0.05)

    with pytest.raises(ServerUnavailable, match=f"127.0.0.1:{port}.*after 3 attempts"):
        Worker(config, client, FixedAnalyzer()).run_once()


def test_the_worker_modules_import_neither_django_nor_torch():
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "import inference_worker.__main__, inference_worker.client, inference_worker.config, inference_worker.worker\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'django', 'rest_framework', 'aiplatform', 'pathology', 'torch'})\n"
        "print(','.join(loaded))\n"
    )
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60, check=False
    )
    helped = subprocess.run(
        [sys.executable, "-m", "inference_worker", "--help"], cwd=root, capture_output=True, text=True, timeout=60
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == ""
    assert helped.returncode == 0 and "--once" in helped.stdout and "--env-file" in helped.stdout


def test_main_names_a_missing_variable(monkeypatch, capsys, tmp_path):
    from inference_worker.__main__ import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DJANGO_API_URL", raising=False)
    monkeypatch.delenv("WORKER_API_KEY", raising=False)

    assert main(["--once"]) == 2
    assert "DJANGO_API_URL is not set" in capsys.readouterr().err


def test_the_pipeline_analyzer_fails_a_request_whose_slide_is_missing(api_url, tmp_path):
    from inference_worker.worker import PipelineAnalyzer

    created = request_create(requested_by=UserFactory(), slide_file="absent.svs")
    worker = worker_for(api_url, None)
    (tmp_path / "slides").mkdir()
    worker.analyzer = PipelineAnalyzer(dataclasses.replace(worker.config, svs_storage_dir=str(tmp_path / "slides")))

    assert worker.run_once() is True

    created.refresh_from_db()
    assert created.status == RequestStatus.FAILED
    assert created.error == "SlideNotFound: slide file 'absent.svs' not found in the slide storage directory"


def test_a_request_whose_orthanc_is_down_is_handed_back_not_failed(api_url):
    from inference_worker.worker import PipelineAnalyzer

    created = request_create(
        requested_by=UserFactory(), orthanc_series_id="00000000-00000000-00000000-00000000-00000000"
    )
    worker = worker_for(api_url, None)
    worker.config = dataclasses.replace(worker.config, orthanc_url="http://127.0.0.1:9", slide_source_retry_seconds=0.3)
    worker.analyzer = PipelineAnalyzer(worker.config)

    started = time.monotonic()
    assert worker.run_once() is True

    assert time.monotonic() - started >= 0.3, "the worker pauses before taking more work"
    created.refresh_from_db()
    assert (created.status, created.attempts, created.worker) == (RequestStatus.PENDING, 1, None)
    assert "Orthanc at http://127.0.0.1:9 is not reachable" in created.message


def test_a_platform_that_refuses_hand_backs_gets_a_failure_instead():
    """A stand-in for an older platform, which answers `pending` with 400:
    the current one always takes hand-backs, so only a double can refuse."""
    from inference_worker.client import WorkerAPIError
    from inference_worker.slides import SlideUnavailable

    class OlderPlatform:
        base_url = "http://platform.invalid/api/pathology"
        failed = []

        def pending(self, limit, wait, sources=None):
            return [{"request_id": "r-1", "priority": 0, "slide_file": "a.svs"}]

        def claim(self, request_id):
            return True

        def progress(self, request_id, percent, message=""):
            pass

        def hand_back(self, request_id, message):
            raise WorkerAPIError("status: not a valid choice", status=400)

        def fail(self, request_id, message):
            self.failed.append((request_id, message))

    class DownSource:
        def analyze(self, request, progress):
            raise SlideUnavailable("Orthanc at http://pacs:8042 is not reachable")

    config = WorkerConfig.from_env(
        {"DJANGO_API_URL": "http://platform.invalid/api/pathology", "WORKER_API_KEY": "k", "HEARTBEAT_SECONDS": "5"}
    )
    platform = OlderPlatform()
    worker = Worker(dataclasses.replace(config, slide_source_retry_seconds=0), platform, DownSource())

    assert worker.run_once() is True
    assert platform.failed == [("r-1", "Orthanc at http://pacs:8042 is not reachable")]


def test_a_worker_without_orthanc_is_not_offered_orthanc_requests(api_url, tmp_path):
    """It says what it can open when it polls (sources=file,upload), so it
    never claims a request it would have to hand back."""
    from inference_worker.worker import PipelineAnalyzer

    (tmp_path / "slides").mkdir()
    by_series = request_create(requested_by=UserFactory(), orthanc_series_id="1f2e3d4c-1f2e3d4c-1f2e3d4c-1f2e3d4c")
    worker = worker_for(api_url, None)
    worker.config = dataclasses.replace(worker.config, svs_storage_dir=str(tmp_path / "slides"))
    worker.analyzer = PipelineAnalyzer(worker.config, worker.client)

    assert worker.analyzer.sources == ("file", "upload")
    assert worker.client.pending(sources=worker.analyzer.sources) == []
    assert worker.run_once() is False

    by_series.refresh_from_db()
    assert (by_series.status, by_series.attempts) == (RequestStatus.PENDING, 0)


def test_a_worker_without_orthanc_hands_an_orthanc_request_back(api_url, tmp_path):
    """Offered one all the same (a platform that does not filter by
    sources), it hands it back for a worker that has Orthanc, not fail it."""
    from inference_worker.worker import PipelineAnalyzer

    class Unfiltered(PipelineAnalyzer):
        sources = None

    by_instance = request_create(requested_by=UserFactory(), orthanc_instance_id="1f2e3d4c-1f2e3d4c-1f2e3d4c-1f2e3d4c")
    worker = worker_for(api_url, None)
    worker.config = dataclasses.replace(worker.config, slide_source_retry_seconds=0)
    worker.analyzer = Unfiltered(worker.config)

    assert worker.run_once() is True

    by_instance.refresh_from_db()
    assert (by_instance.status, by_instance.attempts, by_instance.worker) == (RequestStatus.PENDING, 1, None)
    assert "ORTHANC_URL is not set" in by_instance.message and by_instance.error == ""


def test_an_idle_worker_process_stops_within_a_second_of_sigterm(api_url, settings, tmp_path):
    """`python -m inference_worker` in its long poll (20 s here) holds
    nothing: SIGTERM ends it at once, not at the poll's end."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from pathology.models import InferenceWorker

    settings.PATHOLOGY_LONG_POLL_MAX_SECONDS = 30
    _key, secret = api_key_create(name="idle-lab", scopes=["worker"])
    env = {
        **os.environ,
        "DJANGO_API_URL": api_url,
        "WORKER_API_KEY": secret,
        "WORKER_NAME": "idle-lab",
        "LONG_POLL_WAIT": "20",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "inference_worker"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not InferenceWorker.objects.filter(name="idle-lab", last_seen__isnull=False).exists():
            assert process.poll() is None and time.monotonic() < deadline, process.communicate(timeout=5)[0]
            time.sleep(0.1)
        time.sleep(1)  # well into its long poll

        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0]
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, output
    assert took < 1, f"stopped {took:.1f} s after SIGTERM"
    assert "worker stopped" in output


def test_the_pipeline_uploads_heatmap_thumbnail_and_tiles_the_page_shows(api_url, live_server, tmp_path, monkeypatch):
    """The real pipeline (the demo `tiny` extractor, an untrained CLAM) on a
    generated slide, through the worker loop: the platform then serves the
    RGBA heatmap, the thumbnail under it and one JPEG tile per top region."""
    import io

    import requests as http
    from PIL import Image

    from inference_worker import synthetic
    from inference_worker.worker import PipelineAnalyzer

    for name, value in {
        "FEATURE_EXTRACTOR": "tiny",
        "PATCH_SIZE": "128",
        "ALLOW_UNTRAINED_MODEL": "true",
        "HEATMAP_MAX_SIDE": "1024",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MODEL_PATH", raising=False)
    slides = tmp_path / "slides"
    slides.mkdir()
    synthetic.write_svs(slides / "case.svs", width=2048, height=1536)
    user = UserFactory()
    created = request_create(requested_by=user, slide_file="case.svs")
    worker = worker_for(api_url, None)
    worker.config = dataclasses.replace(worker.config, svs_storage_dir=str(slides), heatmap_max_side=1024)
    worker.analyzer = PipelineAnalyzer(worker.config)

    assert worker.run_once() is True

    created.refresh_from_db()
    assert created.status == RequestStatus.COMPLETED, created.error
    _key, secret = api_key_create(name="viewer", scopes=["service"], owner=user)
    api = http.Session()
    api.headers["X-API-Key"] = secret
    shown = api.get(f"{api_url}/requests/{created.pk}/", timeout=10).json()
    heatmap = Image.open(io.BytesIO(api.get(f"{live_server.url}{shown['heatmap_url']}", timeout=10).content))
    thumbnail = Image.open(io.BytesIO(api.get(f"{live_server.url}{shown['thumbnail_url']}", timeout=10).content))
    assert (heatmap.format, heatmap.mode, heatmap.size) == ("PNG", "RGBA", (1024, 768))
    assert (thumbnail.format, thumbnail.size) == ("JPEG", (1024, 768))
    assert shown["result"]["heatmap"]["colormap"] == "viridis"
    regions = shown["result"]["top_regions"]
    assert len(shown["tile_urls"]) == len(regions) == 10
    for url in shown["tile_urls"]:
        tile = Image.open(io.BytesIO(api.get(f"{live_server.url}{url}", timeout=10).content))
        assert (tile.format, tile.size) == ("JPEG", (256, 256))
    assert shown["message"] != "claimed"


def _uploaded_request(settings, tmp_path, user, width=2048, height=1536):
    """A request whose generated slide was uploaded to the platform (as the page does)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from inference_worker import synthetic

    settings.PATHOLOGY_SLIDE_STORAGE_DIR = str(tmp_path / "server-slides")
    path = synthetic.write_svs(tmp_path / "upload.svs", width=width, height=height)
    upload = SimpleUploadedFile("case 7.svs", path.read_bytes())
    return request_create(requested_by=user, slide_upload=upload), path.stat().st_size


def test_a_worker_without_the_shared_disk_downloads_an_uploaded_slide(api_url, settings, tmp_path, monkeypatch):
    from inference_worker.worker import PipelineAnalyzer

    for name, value in {"FEATURE_EXTRACTOR": "tiny", "PATCH_SIZE": "128", "ALLOW_UNTRAINED_MODEL": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MODEL_PATH", raising=False)
    created, _size = _uploaded_request(settings, tmp_path, UserFactory())
    worker = worker_for(api_url, None)
    (tmp_path / "downloads").mkdir()
    worker.config = dataclasses.replace(worker.config, slide_download_dir=str(tmp_path / "downloads"))
    worker.analyzer = PipelineAnalyzer(worker.config, worker.client)

    assert worker.analyzer.sources == ("upload",)
    assert worker.run_once() is True

    created.refresh_from_db()
    assert created.status == RequestStatus.COMPLETED, created.error
    assert created.result["patches"] > 0 and len(created.tiles) == 10
    assert not list((tmp_path / "downloads").iterdir()), "the downloaded slide is removed"


def test_an_uploaded_slide_over_slide_download_max_mb_fails_the_request(api_url, settings, tmp_path):
    from inference_worker.worker import PipelineAnalyzer

    created, size = _uploaded_request(settings, tmp_path, UserFactory(), width=4096, height=3072)
    assert size > 2**20
    worker = worker_for(api_url, None)
    worker.config = dataclasses.replace(worker.config, slide_download_max_mb=1)
    worker.analyzer = PipelineAnalyzer(worker.config, worker.client)

    assert worker.run_once() is True

    created.refresh_from_db()
    assert created.status == RequestStatus.FAILED
    assert "SLIDE_DOWNLOAD_MAX_MB" in created.error
