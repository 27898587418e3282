"""The files of a vector index collection, one folder each (see aiplatform.vectors).

A write makes a version: `index.<v>.faiss` and `ids.<v>.npy` (temp file,
fsync, rename), then `manifest.json` likewise, naming them. Readers compare the
manifest's identity (`manifest_key`, one os.stat) with the one they loaded to
notice another process's write. Files older than the previous version are
deleted, so a reader that has just read a manifest still finds its files.
Writers of every process take an flock on `.lock` (`write_lock`).
"""

import contextlib
import fcntl
import json
import os
import re
from pathlib import Path

import faiss
import numpy as np

MANIFEST = "manifest.json"
LOCK_FILE = ".lock"

_VERSIONED_RE = re.compile(r"(?:index|ids)\.(\d+)\.(?:faiss|npy)")


def manifest_key(path: Path) -> tuple | None:
    """The identity of the collection's manifest; None when there is none."""
    try:
        st = os.stat(path / MANIFEST)
    except FileNotFoundError:
        return None
    # os.replace gives every version a new inode; with mtime and size, a reused inode number is no match.
    return st.st_ino, st.st_mtime_ns, st.st_size


def manifest_read(path: Path) -> dict:
    """Raises FileNotFoundError or json.JSONDecodeError."""
    return json.loads((path / MANIFEST).read_text())


def version_read(path: Path, manifest: dict) -> tuple[faiss.Index, np.ndarray]:
    """The index and row ids a manifest names. Raises FileNotFoundError, or
    RuntimeError from faiss, when newer versions have replaced them meanwhile."""
    ids = np.load(path / manifest["ids_file"])
    return faiss.read_index(str(path / manifest["index_file"])), ids


def version_write(path: Path, version: int, index: faiss.Index, ids: np.ndarray) -> tuple[str, str]:
    """Write the index and ids files of a version; returns their names, for its manifest."""
    index_file, ids_file = f"index.{version:08d}.faiss", f"ids.{version:08d}.npy"
    _write_atomic(path / index_file, lambda tmp: faiss.write_index(index, tmp))
    _write_atomic(path / ids_file, lambda tmp: _save_npy(tmp, ids))
    return index_file, ids_file


def manifest_write(path: Path, manifest: dict) -> None:
    """Publish a version to every process: replace the manifest."""
    _write_atomic(path / MANIFEST, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=1)))


def versions_prune(path: Path, version: int) -> None:
    """Make the latest rename durable and delete the files of versions before `version - 1`.
    Call under the write lock."""
    _fsync(path)
    for entry in path.iterdir():
        match = _VERSIONED_RE.fullmatch(entry.name)
        # Under the flock no other writer exists, so a .tmp file is a crashed writer's leftover.
        if (match and int(match.group(1)) < version - 1) or entry.name.endswith(".tmp"):
            entry.unlink(missing_ok=True)


@contextlib.contextmanager
def write_lock(path: Path):
    """Hold the collection's flock (one writer among processes), creating the folder."""
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def _save_npy(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array)  # np.save(path) would append ".npy" to the temp name


def _write_atomic(target: Path, write) -> None:
    """write(temp path) next to `target`, fsync it, then rename it over `target`."""
    tmp = target.with_name(target.name + ".tmp")
    write(str(tmp))
    _fsync(tmp)
    os.replace(tmp, target)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
