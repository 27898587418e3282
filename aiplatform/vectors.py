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

A write makes a version: `index.<v>.faiss` and `ids.<v>.npy` (temp file, fsync,
rename), then `manifest.json` likewise, naming them with model, dim and kind.
Readers follow the manifest (one os.stat per search) and reload when another
process wrote; files older than the previous version are deleted. Writers hold
an flock on `.lock` and a thread lock, and build the next version aside before
swapping it in: a search during a write finishes on the version it began on.
A write costs O(collection): batch adds.
"""

import contextlib
import dataclasses
import datetime
import fcntl
import json
import math
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from django.conf import settings

from aiplatform import embeddings
from aiplatform.errors import InvalidInput, UpstreamUnavailable

MANIFEST = "manifest.json"
LOCK_FILE = ".lock"
HNSW_M = 32
# The tuning queries (see _tune) are harder than real questions: on USE
# embeddings of generated chunks (100k real; 1M with perturbed copies), the
# setting that gave them 0.95 gave generated questions 0.99 with either kind,
# where tuning on perturbed stored vectors alone left HNSW at 0.87 on 1M.
TARGET_RECALL = 0.95
TUNING_QUERIES = 256
TUNING_QUERY_REACH = 2.0
EF_SEARCH_CHOICES = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
NPROBE_CHOICES = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
# Tombstones still cost search time (approximate kinds walk over them); past
# this share of the positions the index is rebuilt from the live rows.
MAX_DEAD_FRACTION = 0.2
# IVF's nlist (about 4 sqrt(n)) is fixed when it is trained: retrain once the
# collection has grown this many times over, or the lists get too long.
IVF_REGROW_FACTOR = 4
IVF_TRAIN_POINTS_PER_LIST = 40
LOAD_ATTEMPTS = 5

_NAME_RE = re.compile(r"[a-z0-9_-]{1,100}")
_VERSIONED_RE = re.compile(r"(?:index|ids)\.(\d+)\.(?:faiss|npy)")


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
                self._publish(state, *_build(ids, vectors))
                return
            old_ids = np.where(np.isin(state.ids, ids), -1, state.ids)  # replaced rows become tombstones
            live = int((old_ids >= 0).sum()) + len(ids)
            kind = state.manifest["kind"]
            if (
                (kind == "flat" and live > settings.VECTOR_EXACT_MAX)
                or (kind == "ivf" and live > IVF_REGROW_FACTOR * state.manifest["params"]["trained_count"])
                or _too_many_dead(kind, old_ids)
            ):
                keep = old_ids >= 0
                all_vectors = np.concatenate([_vectors(state.index, np.flatnonzero(keep)), vectors])
                self._publish(state, *_build(np.concatenate([old_ids[keep], ids]), all_vectors))
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
            kind = state.manifest["kind"]
            if _too_many_dead(kind, new_ids):
                keep = np.flatnonzero(new_ids >= 0)
                self._publish(state, *_build(new_ids[keep], _vectors(state.index, keep)))
                return
            self._publish(state, state.index, new_ids, state.manifest)  # only the tombstones are new

    def rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Replace the whole index with these rows, for the configured model; exact or approximate by size."""
        ids, vectors = _check_rows(ids, vectors)
        with self._writing(load=False) as state:  # works even when the current version is unreadable
            self._publish(state, *_build(ids, vectors))

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
        if _manifest_key(self.path) == state.key:
            return state
        with self._load_lock:
            return self._reload_locked()

    def _reload_locked(self) -> _State:
        for _ in range(LOAD_ATTEMPTS):
            key = _manifest_key(self.path)  # taken before reading, so a later write is never missed
            if key == self._state.key:
                return self._state
            if key is None:
                self._state = _State()
                return self._state
            try:
                manifest = json.loads((self.path / MANIFEST).read_text())
                if manifest.get("token") == self._state.manifest.get("token"):  # same version, touched
                    self._state = dataclasses.replace(self._state, key=key)
                    return self._state
                ids = np.load(self.path / manifest["ids_file"])
                index = faiss.read_index(str(self.path / manifest["index_file"]))
            except (FileNotFoundError, RuntimeError, json.JSONDecodeError):
                # Two newer versions were written meanwhile and this one's files
                # are gone (faiss says RuntimeError): read the manifest again.
                continue
            self._state = _State(key, manifest, index, ids, *_search_params(manifest, ids))
            return self._state
        raise UpstreamUnavailable(f"The {self.collection!r} vector index in {self.path} cannot be loaded.")

    @contextlib.contextmanager
    def _writing(self, load: bool = True):
        """Serialise writers (threads, then processes) and yield the latest version on disk
        (only its manifest unless `load`)."""
        with self._write_lock:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
            state = _State()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if load:
                    with self._load_lock:
                        state = self._reload_locked()
                else:
                    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                        state = _State(manifest=json.loads((self.path / MANIFEST).read_text()))
                yield state
            finally:
                os.close(fd)  # releases the flock

    def _publish(self, previous: _State, index: faiss.Index, ids: np.ndarray, meta: dict) -> None:
        version = previous.manifest.get("version", 0) + 1
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        index_file, ids_file = f"index.{version:08d}.faiss", f"ids.{version:08d}.npy"
        _write_atomic(self.path / index_file, lambda tmp: faiss.write_index(index, tmp))
        _write_atomic(self.path / ids_file, lambda tmp: _save_npy(tmp, ids))
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
            _write_atomic(self.path / MANIFEST, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=1)))
            self._state = _State(_manifest_key(self.path), manifest, index, ids, *_search_params(manifest, ids))
        _fsync(self.path)
        for entry in self.path.iterdir():
            match = _VERSIONED_RE.fullmatch(entry.name)
            # Under the flock no other writer exists, so a .tmp file is a crashed writer's leftover.
            if (match and int(match.group(1)) < version - 1) or entry.name.endswith(".tmp"):
                entry.unlink(missing_ok=True)


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


# --- building -----------------------------------------------------------------


def _build(ids: np.ndarray, vectors: np.ndarray) -> tuple[faiss.Index, np.ndarray, dict]:
    """A fresh index for these rows: exact up to VECTOR_EXACT_MAX, approximate above, tuned."""
    n, d = vectors.shape
    kind = "flat" if n <= settings.VECTOR_EXACT_MAX else settings.VECTOR_APPROXIMATE_KIND
    params: dict = {}
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
        index.add(vectors)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.add(vectors)
        params["ef_search"] = _tune(
            index, vectors, {value: faiss.SearchParametersHNSW(efSearch=value) for value in EF_SEARCH_CHOICES}
        )
    elif kind == "ivf":
        nlist = max(1, round(4 * math.sqrt(n)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.min_points_per_centroid = 1  # small collections: fewer points per list is expected, not a warning
        sample = np.random.default_rng(0).choice(n, size=min(n, IVF_TRAIN_POINTS_PER_LIST * nlist), replace=False)
        index.train(vectors[np.sort(sample)])
        index.add(vectors)
        choices = [value for value in NPROBE_CHOICES if value < nlist] + [nlist]
        params["nprobe"] = _tune(index, vectors, {value: faiss.SearchParametersIVF(nprobe=value) for value in choices})
        params["trained_count"] = n
    else:
        raise UpstreamUnavailable(
            f"VECTOR_APPROXIMATE_KIND is {kind!r}; it must be 'hnsw' or 'ivf'.", code="vector_index_not_configured"
        )
    return index, ids, {"kind": kind, "params": params}


def _tune(index: faiss.Index, vectors: np.ndarray, choices: dict[int, faiss.SearchParameters]) -> int:
    """The cheapest of `choices` (setting -> its search parameters, cheapest first) whose recall@10
    against exact search reaches TARGET_RECALL on both kinds of query below; the last one if none does.

    A stored vector is too easy a query (IVF finds it in its own list).
    Half the queries are stored vectors moved in a random direction by
    TUNING_QUERY_REACH times the distance to their 10th neighbour (off the
    data, at the scale of its neighbourhoods: hard for IVF); the other half
    are midpoints of two random stored vectors (neighbours in two places at
    once: hard for a graph walk).
    """
    n, d = vectors.shape
    k = min(10, n)
    rng = np.random.default_rng(0)
    half = max(1, min(n, TUNING_QUERIES) // 2)
    sample = vectors[rng.choice(n, size=half, replace=False)]
    near, _ = faiss.knn(sample, vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
    reach = TUNING_QUERY_REACH * np.sqrt(np.maximum(0.0, 2.0 - 2.0 * near[:, -1:]))
    directions = rng.standard_normal((half, d)).astype(np.float32)
    faiss.normalize_L2(directions)
    pairs = rng.integers(0, n, size=(half, 2))
    queries = np.concatenate([sample + reach * directions, vectors[pairs[:, 0]] + vectors[pairs[:, 1]]])
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    faiss.normalize_L2(queries)
    _, exact = faiss.knn(queries, vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
    truth = [set(row.tolist()) for row in exact]
    for value, choice in choices.items():
        _, found = index.search(queries, k, params=choice)
        hits = np.array([len(want & set(row.tolist())) for want, row in zip(truth, found, strict=True)])
        if min(hits[:half].mean(), hits[half:].mean()) >= TARGET_RECALL * k:
            return value
    return value


def _vectors(index: faiss.Index, positions: np.ndarray) -> np.ndarray:
    """The stored (normalised) vectors at these positions, for a rebuild."""
    if isinstance(index, faiss.IndexIVF):
        # IVF keeps vectors in its inverted lists, under their position as id.
        out = np.empty((index.ntotal, index.d), dtype=np.float32)
        lists = index.invlists
        for list_no in range(index.nlist):
            size = lists.list_size(list_no)
            if size:
                list_ids = faiss.rev_swig_ptr(lists.get_ids(list_no), size)
                codes = faiss.rev_swig_ptr(lists.get_codes(list_no), size * index.code_size)
                out[list_ids] = codes.view(np.float32).reshape(size, index.d)
        return out[positions]
    return index.reconstruct_n(0, index.ntotal)[positions]


def _too_many_dead(kind: str, ids: np.ndarray) -> bool:
    dead = int((ids < 0).sum())
    # An exact index is cheap to rebuild, and a tombstone would cost it a scan.
    return dead > 0 if kind == "flat" else dead > MAX_DEAD_FRACTION * len(ids)


def _search_params(manifest: dict, ids: np.ndarray) -> tuple:
    """Search parameters for a version: its tuned setting, and a selector hiding its tombstones."""
    kind, tuned = manifest["kind"], manifest["params"]
    if kind == "hnsw":
        params = faiss.SearchParametersHNSW(efSearch=tuned["ef_search"])
    elif kind == "ivf":
        params = faiss.SearchParametersIVF(nprobe=tuned["nprobe"])
    else:
        params = faiss.SearchParameters()
    if not (ids < 0).any():
        return (None if kind == "flat" else params), ()
    bitmap = np.packbits(ids >= 0, bitorder="little")  # faiss reads bit i of byte i >> 3
    params.sel = selector = faiss.IDSelectorBitmap(len(ids), faiss.swig_ptr(bitmap))
    return params, (selector, bitmap)


# --- files and validation -------------------------------------------------------


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


def _manifest_key(path: Path) -> tuple | None:
    try:
        st = os.stat(path / MANIFEST)
    except FileNotFoundError:
        return None
    # os.replace gives every version a new inode; with mtime and size, a reused inode number is no match.
    return st.st_ino, st.st_mtime_ns, st.st_size


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
