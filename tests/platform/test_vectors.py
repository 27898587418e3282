"""aiplatform.vectors: exact and approximate search, writes, persistence, model
and dimension checks, and readers in other threads and processes."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import faiss
import numpy as np
import pytest

from aiplatform import vectors
from aiplatform.errors import InvalidInput, UpstreamUnavailable

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _index_dir(settings, tmp_path):
    settings.VECTOR_INDEX_DIR = tmp_path
    settings.EMBEDDINGS_PROVIDER = "use"
    settings.VECTOR_EXACT_MAX = 50_000


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Unit vectors in loose clusters, closer to real embeddings than uniform noise."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(1, n // 25), dim))
    return unit(centers[rng.integers(0, len(centers), n)] + 0.5 * rng.standard_normal((n, dim)))


def brute_force(data: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    scores = unit(queries) @ data.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [[(int(ids[j]), float(row[j])) for j in top] for row, top in zip(scores, order, strict=True)]


def recall_at_10(found, truth) -> float:
    return np.mean([len({i for i, _ in f} & {i for i, _ in t}) / 10 for f, t in zip(found, truth, strict=True)])


def test_empty_index_gives_empty_results():
    index = vectors.get_index("empty")
    assert index.search(np.ones((2, 8), dtype=np.float32), 5) == [[], []]
    assert index.info()["count"] == 0
    assert index.info()["version"] == 0


@pytest.mark.parametrize("name", ["Upper", "a/b", "", "..", "x" * 101, "sp ace", 7])
def test_bad_collection_name(name):
    with pytest.raises(InvalidInput) as exc:
        vectors.get_index(name)
    assert exc.value.field == "collection"


def test_get_index_is_cached_per_directory(settings, tmp_path):
    assert vectors.get_index("a") is vectors.get_index("a")
    settings.VECTOR_INDEX_DIR = tmp_path / "other"
    assert vectors.get_index("a").path == tmp_path / "other" / "a"


def test_exact_search_equals_brute_force():
    data = clustered(400, 16)
    ids = np.arange(1000, 1400, dtype=np.int64)
    index = vectors.get_index("exact")
    index.add(ids, data)
    queries = clustered(5, 16, seed=1)
    found = index.search(queries, 10)
    truth = brute_force(data, ids, queries, 10)
    for f, t in zip(found, truth, strict=True):
        assert [i for i, _ in f] == [i for i, _ in t]
        np.testing.assert_allclose([s for _, s in f], [s for _, s in t], atol=1e-5)
    assert index.info()["kind"] == "flat"
    assert index.search(queries[0], 3)[0] == found[0][:3]  # a single [d] query


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_above_threshold(settings, kind):
    settings.VECTOR_EXACT_MAX = 500
    settings.VECTOR_APPROXIMATE_KIND = kind
    data = clustered(3000, 32)
    ids = np.arange(3000, dtype=np.int64) * 10
    index = vectors.get_index("approx")
    index.add(ids[:400], data[:400])
    assert index.info()["kind"] == "flat"
    index.add(ids[400:], data[400:])  # crosses the threshold
    assert index.info()["kind"] == kind
    assert index.info()["count"] == 3000

    rng = np.random.default_rng(2)
    queries = unit(data[rng.choice(3000, 100)] + 0.2 * rng.standard_normal((100, 32)))
    assert recall_at_10(index.search(queries, 10), brute_force(data, ids, queries, 10)) >= 0.9

    # Removal is a tombstone for approximate kinds: removed rows vanish from results.
    index.remove(ids[:50])
    assert index.info()["count"] == 2950
    assert index.info()["kind"] == kind
    assert all(i not in set(ids[:50].tolist()) for i, _ in index.search(data[:50], 10)[0])
    index.add(ids[100:101], data[200:201])  # replace: row 1000 now holds vector 200
    assert index.search(data[200], 2)[0][0][1] == pytest.approx(1.0, abs=1e-5)
    assert {i for i, _ in index.search(data[200], 2)[0]} == {ids[100], ids[200]}
    assert index.info()["count"] == 2950

    # Past MAX_DEAD_FRACTION tombstones, the index is rebuilt from the vectors it stores.
    index.remove(ids[:1000])
    assert index.info()["count"] == 2000
    assert index.info()["built_at"] is not None
    top = index.search(data[2500], 1)[0][0]
    assert top[0] == ids[2500]
    assert top[1] == pytest.approx(1.0, abs=1e-5)
    removed = set(ids[:1000].tolist())
    assert not removed & {i for row in index.search(data[:1000:25], 10) for i, _ in row}


def test_remove():
    data = clustered(100, 8)
    index = vectors.get_index("remove")
    index.add(np.arange(100), data)
    index.remove(np.array([3, 4, 999]))
    assert index.info()["count"] == 98
    hits = index.search(data[3:5], 100)
    assert all(i not in (3, 4) for row in hits for i, _ in row)
    assert len(hits[0]) == 98
    version = index.info()["version"]
    index.remove([12345])  # nothing to remove: no new version
    assert index.info()["version"] == version


def test_readd_replaces():
    data = clustered(50, 8)
    index = vectors.get_index("replace")
    index.add(np.arange(50), data)
    index.add(np.array([7]), data[20:21] * 3)  # not unit length: the index normalises
    assert index.info()["count"] == 50
    top = index.search(data[20], 2)[0]
    assert {i for i, _ in top} == {7, 20}
    assert top[0][1] == pytest.approx(1.0, abs=1e-5)
    assert index.search(data[7], 1)[0][0][0] != 7 or index.search(data[7], 1)[0][0][1] < 0.999


def test_persists_across_objects(tmp_path):
    data = clustered(200, 16)
    index = vectors.get_index("persist")
    index.add(np.arange(200), data)
    index.remove([5])
    fresh = vectors.VectorIndex("persist", tmp_path)
    assert fresh is not index
    assert fresh.info() == index.info()
    assert fresh.search(data[:3], 5) == index.search(data[:3], 5)
    for _ in range(3):
        index.add(np.array([500]), data[:1])
    names = sorted(path.name for path in (tmp_path / "persist").iterdir())
    version = index.info()["version"]
    # Current and previous versions only, no temp files.
    assert names == sorted(
        [".lock", "manifest.json"]
        + [
            f"{kind}.{v:08d}.{ext}"
            for v in (version - 1, version)
            for kind, ext in [("ids", "npy"), ("index", "faiss")]
        ]
    )


def test_rebuild_replaces_an_unreadable_index(tmp_path):
    index = vectors.get_index("broken")
    index.add(np.arange(10), clustered(10, 8))
    for path in (tmp_path / "broken").glob("index.*.faiss"):
        path.unlink()
    reader = vectors.VectorIndex("broken", tmp_path)
    with pytest.raises(UpstreamUnavailable):
        reader.search(clustered(1, 8), 3)
    reader.rebuild(np.arange(3), clustered(3, 8))
    assert len(reader.search(clustered(1, 8), 5)[0]) == 3
    assert index.info()["count"] == 3


def test_dimension_mismatch():
    index = vectors.get_index("dims")
    index.add(np.arange(10), clustered(10, 16))
    with pytest.raises(InvalidInput) as exc:
        index.add(np.arange(10, 20), clustered(10, 8))
    assert exc.value.field == "vectors"
    with pytest.raises(InvalidInput):
        index.search(clustered(1, 8), 3)
    index.rebuild(np.arange(5), clustered(5, 8))  # a rebuild may change the dimension
    assert index.info()["dim"] == 8


def test_model_mismatch_requires_rebuild(settings):
    index = vectors.get_index("model")
    index.add(np.arange(10), clustered(10, 16))
    settings.EMBEDDINGS_PROVIDER = "openai"
    settings.OPENAI_EMBEDDING_MODEL = "other-model"
    info = index.info()
    assert info["model"] == "use-multilingual-v3"
    assert info["stale"] is True
    with pytest.raises(UpstreamUnavailable, match="must be rebuilt"):
        index.search(clustered(1, 16), 3)
    with pytest.raises(UpstreamUnavailable):
        index.add(np.arange(10, 12), clustered(2, 16))
    index.rebuild(np.arange(4), clustered(4, 64))
    assert index.info()["model"] == "openai:other-model"
    assert len(index.search(clustered(1, 64), 3)[0]) == 3


@pytest.mark.parametrize(
    ("ids", "rows", "field"),
    [
        ([1, 1], 2, "ids"),
        ([-1, 2], 2, "ids"),
        ([0.5, 2.0], 2, "ids"),
        ([1, 2], 3, "vectors"),
    ],
)
def test_invalid_rows(ids, rows, field):
    with pytest.raises(InvalidInput) as exc:
        vectors.get_index("invalid").add(np.array(ids), clustered(rows, 4))
    assert exc.value.field == field


def test_a_few_queries_search_on_vector_query_threads(settings, monkeypatch):
    settings.VECTOR_QUERY_THREADS = 1
    data = clustered(300, 16)
    index = vectors.get_index("threads-used")
    index.add(np.arange(300), data)
    used = []
    search = faiss.IndexFlatIP.search

    def spy(self, *args, **kwargs):
        used.append(faiss.omp_get_max_threads())
        return search(self, *args, **kwargs)

    monkeypatch.setattr(faiss.IndexFlatIP, "search", spy)
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    try:
        small = index.search(data[:1], 5)
        large = index.search(data[: vectors.QUERY_BATCH_MAX + 1], 5)
        after = faiss.omp_get_max_threads()
    finally:
        faiss.omp_set_num_threads(before)

    assert used == [1, 2]  # a batch keeps the caller's threads
    assert after == 2
    assert small[0] == large[0]


def test_invalid_search_arguments():
    index = vectors.get_index("args")
    index.add(np.arange(3), clustered(3, 4))
    with pytest.raises(InvalidInput):
        index.search(clustered(1, 4), 0)
    with pytest.raises(InvalidInput):
        index.add(np.array([9]), np.full((1, 4), np.nan, dtype=np.float32))


def test_search_while_another_thread_writes():
    data = clustered(2000, 16)
    index = vectors.get_index("threads")
    index.add(np.arange(100), data[:100])
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                assert len(index.search(data[:4], 5)) == 4
            except BaseException as exc:  # any failure in the thread fails the test
                errors.append(exc)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for start in range(100, 2000, 100):
            index.add(np.arange(start, start + 100), data[start : start + 100])
            index.remove([start - 50])
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert index.info()["count"] == 2000 - 19


WRITER = """
import sys, time
import django
import numpy as np
django.setup()
from aiplatform import vectors
index = vectors.get_index("shared")
data = np.load(sys.argv[1])
for step in range(5):
    index.add(np.arange(100 + step * 20, 120 + step * 20), data[step * 20 : (step + 1) * 20])
    time.sleep(0.05)
"""


@pytest.mark.slow
def test_other_process_writes_are_seen_without_restart(settings, tmp_path):
    data = clustered(200, 16)
    index = vectors.get_index("shared")
    index.add(np.arange(100), data[:100])
    np.save(tmp_path / "new.npy", data[100:])
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aiplatform.settings",
        "DJANGO_READ_DOTENV": "false",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "test-only-" + "x" * 40,
        "VECTOR_INDEX_DIR": str(tmp_path),
        "EMBEDDINGS_PROVIDER": settings.EMBEDDINGS_PROVIDER,
        "VECTOR_EXACT_MAX": str(settings.VECTOR_EXACT_MAX),
    }
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path / "new.npy")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    counts = set()
    try:
        while writer.poll() is None:
            hits = index.search(data[100:200:10], 1)  # the writer's rows, as they arrive
            counts.add(sum(1 for row in hits if row and row[0][1] > 0.999))
    finally:
        output = writer.communicate(timeout=60)[0]
    assert writer.returncode == 0, output.decode()
    # Every version the reader saw was a whole write (two probed rows each), and it saw them while they arrived.
    assert counts <= {0, 2, 4, 6, 8, 10}
    assert counts & {2, 4, 6, 8}
    hits = index.search(data[100:], 1)
    assert [row[0][0] for row in hits] == list(range(100, 200))
    assert index.info()["count"] == 200
    assert index.info()["version"] == 6
