"""Workers (each with its worker key), requests, and PNG heatmaps."""

import struct
import zlib

import pytest

from aiplatform import services
from pathology.services import protocol, requests

RESULT = {
    "label": "tumor",
    "probabilities": {"tumor": 0.83, "normal": 0.17},
    "top_regions": [{"x": 1024, "y": 2048, "width": 256, "height": 256, "score": 0.97}],
    "model": "clam-sb",
}


def png(width: int = 8, height: int = 6) -> bytes:
    """A real (tiny, red) PNG image."""
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


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
