"""End to end: the platform server, two worker processes started as a lab
machine would start them (`python -m inference_worker`), and requests for
synthetic slides. Each request is analysed once, by the real pipeline, and
its result and heatmap come back through the API.

The model is an untrained CLAM (ALLOW_UNTRAINED_MODEL) with the small demo
extractor: what is tested is the path, not the model's judgement."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiplatform.services import api_key_create
from inference_worker.synthetic import write_svs
from pathology.choices import RequestStatus
from pathology.models import PathologyRequest
from pathology.services.requests import request_create
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
SLIDES = 3


@pytest.mark.slow
def test_two_worker_processes_analyse_each_request_once(live_server, transactional_db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PATHOLOGY_LONG_POLL_MAX_SECONDS = 2
    settings.PATHOLOGY_POLL_SECONDS = 0.1
    slides = tmp_path / "slides"
    slides.mkdir()
    for n in range(SLIDES):
        write_svs(slides / f"case-{n}.svs", width=2048, height=1536, seed=n)
    user = UserFactory(username="pathologist")
    requests = [request_create(requested_by=user, slide_file=f"case-{n}.svs") for n in range(SLIDES)]
    workers = []
    for name in ("lab-1", "lab-2"):
        _key, secret = api_key_create(name=name, scopes=["worker"])
        env = {
            **os.environ,
            "DJANGO_API_URL": f"{live_server.url}/api/pathology",
            "WORKER_API_KEY": secret,
            "WORKER_NAME": name,
            "SVS_STORAGE_DIR": str(slides),
            "FEATURE_EXTRACTOR": "tiny",
            "ALLOW_UNTRAINED_MODEL": "true",
            "DEVICE": "cpu",
            "PATCH_SIZE": "128",
            "LONG_POLL_WAIT": "1",
            "HEARTBEAT_SECONDS": "2",
            "OMP_NUM_THREADS": "1",
            # Run from a folder of its own, as on a lab machine, with the package importable.
            "PYTHONPATH": str(ROOT),
        }
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "inference_worker"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if PathologyRequest.objects.filter(status=RequestStatus.COMPLETED).count() == SLIDES:
                break
            assert all(worker.poll() is None for worker in workers), "a worker exited early"
            time.sleep(0.5)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        logs = [worker.communicate(timeout=60)[0] for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0], logs
    for request in requests:
        request.refresh_from_db()
        assert request.status == RequestStatus.COMPLETED, (request.error, logs)
        assert request.attempts == 1
        assert request.worker.name in {"lab-1", "lab-2"}
        result = request.result
        assert result["untrained"] is True and result["patches"] > 0
        assert result["label"] in result["probabilities"]
        assert sum(result["probabilities"].values()) == pytest.approx(1, abs=0.01)
        assert request.heatmap.read().startswith(b"\x89PNG")
