"""USE_LOCAL_INFERENCE=false: the platform server runs the worker package's
real pipeline itself (PATHOLOGY_PIPELINE = inference_worker.pipeline.analyse)
on a slide uploaded to it, and stores what a remote worker would upload."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from inference_worker import pipeline, synthetic
from pathology.choices import RequestStatus
from pathology.models import PathologyRequest
from pathology.services import local


@pytest.fixture
def server_pipeline(settings, monkeypatch, tmp_path):
    settings.USE_LOCAL_INFERENCE = False
    settings.PATHOLOGY_PIPELINE = "inference_worker.pipeline.analyse"
    settings.PATHOLOGY_SLIDE_STORAGE_DIR = str(tmp_path / "server-slides")
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}}
    for name, value in {"FEATURE_EXTRACTOR": "tiny", "PATCH_SIZE": "128", "ALLOW_UNTRAINED_MODEL": "true"}.items():
        monkeypatch.setenv(name, value)
    # The server has no slide storage of its own to look names up in: the upload's path is given.
    monkeypatch.delenv("SVS_STORAGE_DIR", raising=False)
    monkeypatch.delenv("MODEL_PATH", raising=False)
    local.pipeline_load.cache_clear()
    pipeline._cached_pipeline.cache_clear()
    yield
    local.pipeline_load.cache_clear()
    pipeline._cached_pipeline.cache_clear()


def test_the_server_analyses_an_uploaded_slide_itself(
    server_pipeline, owner_client, tmp_path, django_capture_on_commit_callbacks
):
    slide = synthetic.write_svs(tmp_path / "case.svs", width=2048, height=1536)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/api/pathology/analyze/", {"slide": SimpleUploadedFile("case.svs", slide.read_bytes())}, format="multipart"
        )

    assert response.status_code == 202, response.content
    done = PathologyRequest.objects.get(pk=response.json()["request_id"])
    assert done.status == RequestStatus.COMPLETED, done.error
    assert done.worker.name == "server" and done.result["patches"] > 0
    assert done.heatmap.name.endswith(".png") and done.thumbnail.name.endswith(".jpg")
    assert len(done.tiles) == len(done.result["top_regions"]) == 10
