"""End to end: the platform server, a real Orthanc, two worker processes
started as a lab machine would start them (`python -m inference_worker`)
with the demo model (`train_demo`), and requests for synthetic slides of
both classes: by file name, by an Orthanc instance whose metadata names the
file, and by an Orthanc DICOM WSI series that only Orthanc holds. Each
request is analysed once, and its prediction and heatmap come back through
the API to the user who asked."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests as http

from aiplatform.services import api_key_create
from inference_worker import dicom_wsi, train_demo
from pathology.choices import RequestStatus
from pathology.models import PathologyRequest
from pathology.services.requests import request_create
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
# Seeds no training slide of the demo model has.
CASES = [("normal", 9_990), ("tumor", 9_991), ("normal", 9_992), ("tumor", 9_993)]


@pytest.mark.slow
def test_two_worker_processes_analyse_each_request_once(
    live_server, transactional_db, settings, tmp_path, demo_model, orthanc_server
):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PATHOLOGY_LONG_POLL_MAX_SECONDS = 2
    settings.PATHOLOGY_POLL_SECONDS = 0.1
    slides = tmp_path / "slides"
    slides.mkdir()
    for label, seed in CASES:
        train_demo.write_slide(slides / f"{label}-{seed}.svs", label=label, seed=seed)
    user = UserFactory(username="pathologist")
    expected = {}

    # 1-2: by file name.
    for label, seed in CASES[:2]:
        expected[request_create(requested_by=user, slide_file=f"{label}-{seed}.svs").pk] = label
    # 3: an Orthanc instance (written with pydicom) whose metadata names the file.
    label, seed = CASES[2]
    reference = orthanc_server.upload(dicom_wsi.write_reference(tmp_path / "ref.dcm", slide_file="scan.tif"))["ID"]
    orthanc_server.set_metadata(reference, "SlideFile", f"{label}-{seed}.svs")
    expected[request_create(requested_by=user, orthanc_instance_id=reference).pk] = label
    # 4: a DICOM WSI series only Orthanc has: the workers fetch it.
    label, seed = CASES[3]
    only_in_orthanc = slides / f"{label}-{seed}.svs"
    files = dicom_wsi.write_series(only_in_orthanc, tmp_path / "dicom")
    only_in_orthanc.unlink()
    uploaded = [orthanc_server.upload(path) for path in files]
    series = uploaded[0]["ParentSeries"]
    expected[request_create(requested_by=user, orthanc_series_id=series).pk] = label

    workers = []
    for name in ("lab-1", "lab-2"):
        _key, secret = api_key_create(name=name, scopes=["worker"])
        env = {
            **os.environ,
            **demo_model.worker_env(),
            "DJANGO_API_URL": f"{live_server.url}/api/pathology",
            "WORKER_API_KEY": secret,
            "WORKER_NAME": name,
            "SVS_STORAGE_DIR": str(slides),
            "ORTHANC_URL": orthanc_server.url,
            "ORTHANC_USER": orthanc_server.user,
            "ORTHANC_PASSWORD": orthanc_server.password,
            "SLIDE_DOWNLOAD_DIR": str(tmp_path),
            "DEVICE": "cpu",
            "LONG_POLL_WAIT": "1",
            "HEARTBEAT_SECONDS": "2",
            "OMP_NUM_THREADS": "1",
            # Run from a folder of its own, as on a lab machine, with the package importable.
            "PYTHONPATH": str(ROOT),
        }
        workdir = tmp_path / name
        workdir.mkdir()
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "inference_worker"],
                cwd=workdir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if PathologyRequest.objects.exclude(
                status__in=[RequestStatus.PENDING, RequestStatus.PROCESSING]
            ).count() == len(expected):
                break
            assert all(worker.poll() is None for worker in workers), "a worker exited early"
            time.sleep(0.5)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        logs = [worker.communicate(timeout=60)[0] for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0], logs
    _key, user_secret = api_key_create(name="viewer", scopes=["service"], owner=user)
    api = http.Session()
    api.headers["X-API-Key"] = user_secret
    for request_id, label in expected.items():
        shown = api.get(f"{live_server.url}/api/pathology/requests/{request_id}/", timeout=10)
        assert shown.status_code == 200, shown.text
        body = shown.json()
        assert body["status"] == RequestStatus.COMPLETED, (body, logs)
        assert body["attempts"] == 1
        assert body["worker"] in {"lab-1", "lab-2"}
        result = body["result"]
        assert result["untrained"] is False and result["model"]["checkpoint"] == demo_model.checkpoint.name
        assert result["label"] == label, (request_id, result["probabilities"])
        assert sum(result["probabilities"].values()) == pytest.approx(1, abs=0.01)
        assert result["patches"] > 0 and result["top_regions"]
        heatmap = api.get(f"{live_server.url}{body['heatmap_url']}", timeout=10)
        assert heatmap.status_code == 200 and heatmap.content.startswith(b"\x89PNG")
    # Each request was claimed once: no worker log shows a second claim of one.
    claims = [line for log in logs for line in log.splitlines() if ": claimed" in line]
    assert len(claims) == len(expected), logs
    assert not list(tmp_path.glob("slide-*")), "fetched DICOM files are removed"
