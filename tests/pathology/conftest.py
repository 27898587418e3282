"""Workers (each with its worker key), requests, and PNG heatmaps."""

import pytest

from aiplatform import services
from pathology.services import protocol, requests
from tests.support.pathology_pipeline import jpeg, png  # noqa: F401 (used by the test modules)

RESULT = {
    "label": "tumor",
    "probabilities": {"tumor": 0.83, "normal": 0.17},
    "top_regions": [{"x": 1024, "y": 2048, "width": 256, "height": 256, "score": 0.97}],
    "model": "clam-sb",
}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PATHOLOGY_REAP_SECONDS = 0  # look for expired leases on every poll
    protocol._reaped_at = 0.0
    return settings.MEDIA_ROOT


@pytest.fixture
def make_worker(db):
    """make_worker("gpu-01") -> (InferenceWorker, key secret)."""

    def make(name: str):
        key, secret = services.api_key_create(name=name, scopes=["worker"])
        return protocol.worker_for_key(api_key=key), secret

    return make


@pytest.fixture
def make_request(owner):
    def make(**kwargs):
        return requests.request_create(
            requested_by=kwargs.pop("requested_by", owner), **{"slide_file": "case.svs", **kwargs}
        )

    return make
