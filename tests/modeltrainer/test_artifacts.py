"""Model files: atomic writes, SHA-256 checked before unpickling, names that
cannot leave the storage directory."""

import hashlib

import joblib
import pytest

from modeltrainer import artifacts


def test_written_file_loads_back_when_the_checksum_matches(model_storage):
    stored = artifacts.artifact_write({"pipeline": {"weights": [1, 2, 3]}}, name="model-v0001-abc.joblib")

    path = model_storage / "model-v0001-abc.joblib"
    assert stored.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert stored.size == path.stat().st_size
    assert artifacts.artifact_load(stored.name, sha256=stored.sha256)["pipeline"] == {"weights": [1, 2, 3]}
    assert [p.name for p in model_storage.iterdir()] == ["model-v0001-abc.joblib"]  # no temporary left


def test_altered_file_is_refused_before_it_is_unpickled(model_storage, monkeypatch):
    stored = artifacts.artifact_write({"pipeline": "good"}, name="m.joblib")
    # Another valid joblib file put in its place: it would load, but it is not what was trained.
    joblib.dump({"format": artifacts.FORMAT, "pipeline": "evil"}, model_storage / "m.joblib")
    unpickled = []
    monkeypatch.setattr(artifacts.joblib, "load", lambda *a, **k: unpickled.append(a))

    with pytest.raises(artifacts.ArtifactRejected) as caught:
        artifacts.artifact_load("m.joblib", sha256=stored.sha256)

    assert caught.value.status_code == 503
    assert caught.value.extra["expected_sha256"] == stored.sha256
    assert unpickled == []


def test_missing_file_and_missing_checksum_are_refused(model_storage):
    with pytest.raises(artifacts.ArtifactRejected, match="missing"):
        artifacts.artifact_load("gone.joblib", sha256="0" * 64)
    stored = artifacts.artifact_write({"pipeline": 1}, name="n.joblib")
    with pytest.raises(artifacts.ArtifactRejected):
        artifacts.artifact_load(stored.name, sha256="")


@pytest.mark.parametrize("name", ["../x.joblib", "/etc/passwd", "a/b.joblib", "..", "x.pkl", "", ".hidden.joblib"])
def test_names_outside_the_storage_directory_are_refused(model_storage, name):
    with pytest.raises(artifacts.ArtifactRejected):
        artifacts.artifact_path(name)


def test_a_symlink_out_of_the_directory_is_refused(model_storage, tmp_path):
    model_storage.mkdir(parents=True, exist_ok=True)
    (tmp_path / "outside.joblib").write_bytes(b"x")
    (model_storage / "link.joblib").symlink_to(tmp_path / "outside.joblib")

    with pytest.raises(artifacts.ArtifactRejected, match="outside"):
        artifacts.artifact_path("link.joblib")
