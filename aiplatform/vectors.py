"""FAISS vector indexes, one folder per collection, shared by every server process.

    index = vectors.get_index("conversations")
    index.add(row_ids, embeddings.embed(texts))
    hits = index.search(embeddings.embed([question]), k=10)[0]  # [(row id, cosine), ...] best first

Exact (IndexFlatIP) up to VECTOR_EXACT_MAX vectors, approximate above
(VECTOR_APPROXIMATE_KIND "hnsw" or "ivf", efSearch or nprobe tuned at build time
for recall@10 >= 0.95). Vectors are normalised on the way in: scores are cosines.

Row ids live in a parallel int64 array (position -> row id, -1 once removed),
not an IndexIDMap2: HNSW cannot remove vectors, so a removal is a tombstone
that an IDSelector hides at search time, for every kind, until too many pile up
and the index is rebuilt. (IndexIDMap also swaps the selector inside the
caller's search parameters during a search: unsafe across threads.)

A write makes a version on disk (aiplatform.vector_files), its manifest naming
it with model, dim and kind. Readers follow the manifest (one os.stat per
search) and reload when another process wrote. Writers hold an flock and a
thread lock, and build the next version aside (aiplatform.vector_build) before
swapping it in: a search during a write finishes on the version it began on.
A write costs O(collection): batch adds.
"""

import contextlib
import dataclasses
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from django.conf import settings
from django.utils import timezone

from aiplatform import embeddings, vector_build, vector_files
from aiplatform.errors import InvalidInput, UpstreamUnavailable

LOAD_ATTEMPTS = 5
# A search of at most this many queries (a request's question) runs on
# VECTOR_QUERY_THREADS OpenMP threads; larger batches on FAISS's default, one
# per core. Below 20 queries an exact search scans the vectors once per query
# and splits that scan between threads: on 2 cores, one 512-dimension query
# over 10,001 vectors took 0.9 ms on one thread against 15 ms on two while
# another process kept a core busy (and threads left spinning after a search
# slow down the rest of the request).
QUERY_BATCH_MAX = 16

_NAME_RE = re.compile(r"[a-z0-9_-]{1,100}")


@dataclass(frozen=True)
class _State:
    """One loaded version; never modified once published, so searches can use it without a lock."""

    key: tuple | None = None  # os.stat identity of the manifest it came from; None: no manifest
    manifest: dict = field(default_factory=dict)
    index: faiss.Index | None = None
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    params: faiss.SearchParameters | None = None
    keep_alive: tuple = ()  # the selector and bitmap that `params` points into


class VectorIndex:
    """The vector index of one collection; use get_index() for the per-process shared object."""

    def __init__(self, collection: str, directory: Path | str | None = None):
        _check_name(collection)
        self.collection = collection
        self.path = Path(directory if directory is not None else settings.VECTOR_INDEX_DIR) / collection
        self._state = _State()
        self._load_lock = threading.Lock()  # loading from disk and swapping self._state
        self._write_lock = threading.Lock()  # one writer per process; flock serialises processes

    # --- reads -------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """The `k` nearest rows of each query: one list of (row id, cosine score) per query, best first.

        `queries` is [q, d] or a single [d] vector. An index that was never
        written, or is empty, gives empty lists. Raises UpstreamUnavailable when
        the index was built by another embedding model than the configured one
        (rebuild it), InvalidInput for a wrong dimension or k.
        """
        q = np.array(queries, dtype=np.float32, order="C", ndmin=2)
        if q.ndim != 2:
            raise InvalidInput("queries must be a vector or a 2-D array of vectors.", field="queries")
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InvalidInput("k must be a positive integer.", field="k")
        state = self._current()
        if not state.manifest:
            return [[] for _ in range(len(q))]
        self._check_model(state.manifest)
        self._check_dim(state.manifest, q, "queries")
        if state.manifest["count"] == 0 or len(q) == 0:
            return [[] for _ in range(len(q))]
        faiss.normalize_L2(q)
        threads = settings.VECTOR_QUERY_THREADS if len(q) <= QUERY_BATCH_MAX else None
        with _openmp_threads(threads):
            scores, positions = state.index.search(q, min(int(k), state.index.ntotal), params=state.params)
        results = []
        for score_row, position_row in zip(scores, positions, strict=True):
            found = position_row >= 0  # fewer than k live vectors: faiss pads with -1
            results.append(list(zip(state.ids[position_row[found]].tolist(), score_row[found].tolist(), strict=True)))
        return results

    def info(self) -> dict:
        """Kind, count, dim, model, version, built_at (last full build), updated_at, params, stale."""
        manifest = {"kind": "flat", "count": 0, "version": 0, "params": {}, **self._current().manifest}
        info = {key: manifest.get(key) for key in ("kind", "count", "dim", "model", "version", "built_at")}
        stale = manifest["version"] > 0 and manifest["model"] != embeddings.model_name()
        return {**info, "updated_at": manifest.get("updated_at"), "params": manifest["params"], "stale": stale}

    # --- writes ------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add rows (int64 ids, float32 [n, d] vectors) and persist; an id already present is replaced.

        Raises InvalidInput for vectors of another dimension than the index's,
        UpstreamUnavailable when the index was built by another model.
        """
        ids, vectors = _check_rows(ids, vectors)
        with self._writing() as state:
            if state.manifest:
                self._check_model(state.manifest)
                self._check_dim(state.manifest, vectors, "vectors")
            if not len(ids):
                return
            if state.index is None:
                self._publish(state, *vector_build.build(ids, vectors))
                return
            old_ids = np.where(np.isin(state.ids, ids), -1, state.ids)  # replaced rows become tombstones
            live = int((old_ids >= 0).sum()) + len(ids)
            kind = state.manifest["kind"]
            if vector_build.outgrown(state.manifest, live) or vector_build.too_many_dead(kind, old_ids):
                keep = old_ids >= 0
                all_vectors = np.concatenate([vector_build.stored_vectors(state.index, np.flatnonzero(keep)), vectors])
                self._publish(state, *vector_build.build(np.concatenate([old_ids[keep], ids]), all_vectors))
                return
            index = faiss.clone_index(state.index)  # readers keep searching the published one
            index.add(vectors)
            self._publish(state, index, np.concatenate([old_ids, ids]), state.manifest)

    def remove(self, ids: np.ndarray) -> None:
        """Remove rows by id and persist; ids that are not in the index are ignored."""
        ids = _check_ids(ids)
        with self._writing() as state:
            if state.index is None:
                return
            gone = np.isin(state.ids, ids)
            if not gone.any():
                return
            new_ids = np.where(gone, -1, state.ids)
            if vector_build.too_many_dead(state.manifest["kind"], new_ids):
                keep = np.flatnonzero(new_ids >= 0)
                self._publish(state, *vector_build.build(new_ids[keep], vector_build.stored_vectors(state.index, keep)))
                return
            self._publish(state, state.index, new_ids, state.manifest)  # only the tombstones are new

    def rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Replace the whole index with these rows, for the configured model; exact or approximate by size."""
        ids, vectors = _check_rows(ids, vectors)
        with self._writing(load=False) as state:  # works even when the current version is unreadable
            self._publish(state, *vector_build.build(ids, vectors))

    # --- internals ---------------------------------------------------------

    def _check_model(self, manifest: dict) -> None:
        current = embeddings.model_name()
        if manifest.get("model") != current:
            raise UpstreamUnavailable(
                f"The {self.collection!r} vector index was built with {manifest.get('model')!r} but the configured "
                f"embedding model is {current!r}: the index must be rebuilt.",
                code="vector_index_stale",
                extra={"collection": self.collection, "index_model": manifest.get("model"), "model": current},
            )

    def _check_dim(self, manifest: dict, rows: np.ndarray, name: str) -> None:
        if rows.shape[1] != manifest["dim"]:
            raise InvalidInput(
                f"The {self.collection!r} index holds {manifest['dim']}-dimensional vectors, not {rows.shape[1]}.",
                field=name,
            )

    def _current(self) -> _State:
        """The latest published version: one os.stat when nothing changed, a reload when another process wrote."""
        state = self._state
        if vector_files.manifest_key(self.path) == state.key:
            return state
        with self._load_lock:
            return self._reload_locked()

    def _reload_locked(self) -> _State:
        for _ in range(LOAD_ATTEMPTS):
            key = vector_files.manifest_key(self.path)  # taken before reading, so a later write is never missed
            if key == self._state.key:
                return self._state
            if key is None:
                self._state = _State()
                return self._state
            try:
                manifest = vector_files.manifest_read(self.path)
                if manifest.get("token") == self._state.manifest.get("token"):  # same version, touched
                    self._state = dataclasses.replace(self._state, key=key)
                    return self._state
                index, ids = vector_files.version_read(self.path, manifest)
            except (FileNotFoundError, RuntimeError, json.JSONDecodeError):
                # Two newer versions were written meanwhile and this one's files
                # are gone (faiss says RuntimeError): read the manifest again.
                continue
            self._state = _State(key, manifest, index, ids, *vector_build.search_params(manifest, ids))
            return self._state
        raise UpstreamUnavailable(f"The {self.collection!r} vector index in {self.path} cannot be loaded.")

    @contextlib.contextmanager
    def _writing(self, load: bool = True):
        """Serialise writers (threads, then processes) and yield the latest version on disk
        (only its manifest unless `load`)."""
        with self._write_lock, vector_files.write_lock(self.path):
            state = _State()
            if load:
                with self._load_lock:
                    state = self._reload_locked()
            else:
                with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                    state = _State(manifest=vector_files.manifest_read(self.path))
            yield state

    def _publish(self, previous: _State, index: faiss.Index, ids: np.ndarray, meta: dict) -> None:
        version = previous.manifest.get("version", 0) + 1
        # In TIME_ZONE, like every time the platform shows.
        now = timezone.localtime().isoformat(timespec="seconds")
        index_file, ids_file = vector_files.version_write(self.path, version, index, ids)
        manifest = {
            "format": 1,
            "version": version,
            "token": secrets.token_hex(8),
            "kind": meta["kind"],
            "count": int((ids >= 0).sum()),
            "dim": index.d,
            "model": embeddings.model_name(),
            "built_at": meta.get("built_at") or now,
            "updated_at": now,
            "params": meta["params"],
            "index_file": index_file,
            "ids_file": ids_file,
        }
        with self._load_lock:  # a search must not reload what this process has just written
            vector_files.manifest_write(self.path, manifest)
            key = vector_files.manifest_key(self.path)
            self._state = _State(key, manifest, index, ids, *vector_build.search_params(manifest, ids))
        vector_files.versions_prune(self.path, version)


_indexes: dict[tuple[str, str], VectorIndex] = {}
_indexes_lock = threading.Lock()


def get_index(collection: str) -> VectorIndex:
    """The process's VectorIndex for `collection` ([a-z0-9_-]+) under VECTOR_INDEX_DIR; InvalidInput otherwise."""
    _check_name(collection)
    key = (str(settings.VECTOR_INDEX_DIR), collection)
    with _indexes_lock:
        if key not in _indexes:
            _indexes[key] = VectorIndex(collection, settings.VECTOR_INDEX_DIR)
        return _indexes[key]


# --- validation -----------------------------------------------------------------


def _check_name(collection: str) -> None:
    if not isinstance(collection, str) or not _NAME_RE.fullmatch(collection):
        raise InvalidInput(
            "A collection name is 1 to 100 of a-z, 0-9, '_' and '-'.", field="collection", code="invalid_collection"
        )


def _check_ids(ids) -> np.ndarray:
    """Row ids as int64, >= 0 (-1 marks a removed position)."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)) or (ids < 0).any():
        raise InvalidInput("ids must be a 1-D array of row ids (integers >= 0).", field="ids")
    return ids.astype(np.int64)


def _check_rows(ids, vectors) -> tuple[np.ndarray, np.ndarray]:
    """Unique int64 ids and float32 [n, d] vectors, normalised, as copies."""
    ids = _check_ids(ids)
    if len(np.unique(ids)) != len(ids):
        raise InvalidInput("ids contains duplicates.", field="ids")
    vectors = np.array(vectors, dtype=np.float32, order="C")
    if vectors.ndim != 2 or len(vectors) != len(ids) or vectors.shape[1] == 0:
        raise InvalidInput("vectors must be a [len(ids), d] array.", field="vectors")
    if not np.isfinite(vectors).all():
        raise InvalidInput("vectors contains NaN or infinite values.", field="vectors")
    faiss.normalize_L2(vectors)
    return ids, vectors


@contextlib.contextmanager
def _openmp_threads(threads: int | None):
    """Run FAISS on `threads` OpenMP threads in this block (None: as it is). OpenMP keeps
    the setting per thread, so concurrent requests do not change each other's."""
    if threads is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
