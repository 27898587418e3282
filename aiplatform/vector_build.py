"""Building the FAISS indexes of aiplatform.vectors: exact (IndexFlatIP) up to
VECTOR_EXACT_MAX vectors, approximate above (VECTOR_APPROXIMATE_KIND "hnsw" or
"ivf", efSearch or nprobe tuned at build time for recall@10 >= 0.95), and
when a collection has outgrown its index.
"""

import math

import faiss
import numpy as np
from django.conf import settings

from aiplatform.errors import UpstreamUnavailable

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


def build(ids: np.ndarray, vectors: np.ndarray) -> tuple[faiss.Index, np.ndarray, dict]:
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


def stored_vectors(index: faiss.Index, positions: np.ndarray) -> np.ndarray:
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


def too_many_dead(kind: str, ids: np.ndarray) -> bool:
    dead = int((ids < 0).sum())
    # An exact index is cheap to rebuild, and a tombstone would cost it a scan.
    return dead > 0 if kind == "flat" else dead > MAX_DEAD_FRACTION * len(ids)


def search_params(manifest: dict, ids: np.ndarray) -> tuple:
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


def outgrown(manifest: dict, live: int) -> bool:
    """Whether an index of this manifest should be rebuilt to hold `live` rows: an exact
    index past VECTOR_EXACT_MAX, an IVF index grown IVF_REGROW_FACTOR times since training."""
    kind = manifest["kind"]
    if kind == "flat":
        return live > settings.VECTOR_EXACT_MAX
    return kind == "ivf" and live > IVF_REGROW_FACTOR * manifest["params"]["trained_count"]
