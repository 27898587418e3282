"""Model files: written atomically into MODEL_STORAGE_DIR, loaded only after
their SHA-256 matches the one recorded when they were written.

A joblib file is a pickle, and loading a pickle runs code, so the file is
read once into memory, hashed, and unpickled from those very bytes: a file
swapped between the check and the load cannot slip through.
"""

import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import joblib
from django.conf import settings

from aiplatform.errors import UpstreamUnavailable

FORMAT = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.joblib$")


class ArtifactRejected(UpstreamUnavailable):
    """A model file is missing, outside the storage directory, or does not
    match its recorded checksum: it is not loaded."""

    code = "model_file_rejected"


@dataclass(frozen=True)
class StoredArtifact:
    name: str
    sha256: str
    size: int


def storage_dir() -> Path:
    return Path(settings.MODEL_STORAGE_DIR)


def artifact_path(name: str) -> Path:
    """The file of `name` inside the storage directory; anything that would
    leave it (separators, '..', an absolute path) is refused."""
    root = storage_dir().resolve()
    if not _NAME.match(name or ""):
        raise ArtifactRejected(f"{name!r} is not a model file name.")
    path = (root / name).resolve()
    if path.parent != root:
        raise ArtifactRejected(f"{name!r} is outside the model storage directory.")
    return path


def artifact_write(payload: dict, *, name: str) -> StoredArtifact:
    """Dump `payload` with joblib to `name`, via a temporary file and a
    rename, so readers never see half a file."""
    path = artifact_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    joblib.dump({"format": FORMAT, **payload}, buffer, compress=3)
    data = buffer.getvalue()
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".joblib")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return StoredArtifact(name=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def artifact_verify(name: str, *, sha256: str) -> bytes:
    """The bytes of the file, once they match the recorded SHA-256."""
    path = artifact_path(name)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactRejected(f"The model file {name} is missing.") from None
    actual = hashlib.sha256(data).hexdigest()
    if not sha256 or actual != sha256:
        raise ArtifactRejected(
            f"The model file {name} does not match its recorded SHA-256 (expected {sha256 or 'none'}, "
            f"found {actual}); it was not loaded.",
            extra={"expected_sha256": sha256, "actual_sha256": actual},
        )
    return data


def artifact_load(name: str, *, sha256: str) -> dict:
    data = artifact_verify(name, sha256=sha256)
    payload = joblib.load(io.BytesIO(data))
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ArtifactRejected(f"The model file {name} is not in a format this server reads.")
    return payload


def artifact_delete(name: str) -> None:
    if name:
        artifact_path(name).unlink(missing_ok=True)
