"""Vector search benchmark: embedding and indexing throughput, search latency and recall.

    .venv/bin/python -m bench.vectors [--chunks 100000] [--vectors 1000000] [--queries 200] [--json PATH]
    .venv/bin/python -m bench.vectors --chunks 5000 --vectors 50000      # a quick run, under a minute

In process, no server: aiplatform.embeddings and aiplatform.vectors as the
app calls them, with indexes in a temporary directory.

1. Embed `--chunks` generated chunks (mixed Korean and English, 1-3
   sentences each, all distinct) with the configured model, then index them
   with one VectorIndex.rebuild() under the configured settings.
2. Search: single-query k=10 latency and recall@10 against exact search,
   for the exact index and each approximate kind, at `--chunks` vectors (the
   real embeddings) and at `--vectors` vectors: the real embeddings plus
   noise-perturbed copies of them (embedding a million texts would take
   about 13 minutes here).
"""

import argparse
import contextlib
import gc
import json
import os
import platform
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiplatform.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("DJANGO_READ_DOTENV", "false")  # a developer's .env must not change what is measured

import django

django.setup()

import faiss  # noqa: E402
from django.conf import settings  # noqa: E402
from django.test import override_settings  # noqa: E402

from aiplatform import embeddings, vectors  # noqa: E402
from bench.harness import _box_cpu_seconds, print_table  # noqa: E402


# Word banks for the generated chunks, "|"-separated: 25 x 25 x 25 x 25 sentences per language.
def _bank(words: str) -> tuple[str, ...]:
    return tuple(words.split("|"))


EN = (
    _bank(
        "The support team|Our new model|The pathology lab|A long-time customer|The finance department|"
        "The night shift nurse|Our data engineers|The research group|A junior developer|The hospital board|"
        "The marketing team|An external auditor|The product manager|The on-call engineer|Our Seoul office|"
        "The training pipeline|A visiting professor|The legal team|The store manager|The city council|"
        "A small startup|The quality inspector|The chatbot|The warehouse crew|The school principal"
    ),
    _bank(
        "reviewed|approved|rejected|summarised|translated|updated|deleted|archived|shared|questioned|"
        "analysed|scheduled|postponed|signed|printed|uploaded|tested|deployed|cancelled|discussed|published|"
        "corrected|measured|ordered|reported"
    ),
    _bank(
        "the quarterly report|the training data|the biopsy slides|the customer complaint|"
        "the new pricing plan|the server logs|the contract draft|the safety checklist|the marketing budget|"
        "the patient records|the release notes|the survey results|the delivery schedule|the annual forecast|"
        "the model weights|the invoice|the meeting notes|the lab results|the travel plan|the hiring plan|"
        "the inventory list|the exam questions|the bug report|the design mockups|the research paper"
    ),
    _bank(
        "before the deadline|after the outage|during the morning meeting|for the third time|"
        "without any comment|in the Busan branch|with great care|late on Friday night|"
        "at the request of the director|despite the holiday|in less than an hour|after a long debate|"
        "because of a typo|for the new client|as part of the audit|on the shared drive|before lunch|"
        "while the system was down|ahead of the launch|for the board meeting|with two colleagues|"
        "after the patient complained|in the weekly newsletter|at the conference in Seoul|"
        "under heavy time pressure"
    ),
)
KO = (
    _bank(
        "고객 지원팀은|새 모델이|병리 연구실에서|오래된 고객이|재무팀은|야간 근무 간호사가|"
        "데이터 엔지니어들이|연구팀은|신입 개발자가|병원 이사회는|마케팅팀이|외부 감사인이|제품 관리자가|"
        "당직 엔지니어가|서울 사무실에서|학습 파이프라인이|방문 교수가|법무팀은|매장 관리자가|시의회는|"
        "작은 스타트업이|품질 검사원이|챗봇이|물류 창고 직원들이|교장 선생님이"
    ),
    _bank(
        "마감 전에|장애가 끝난 뒤|아침 회의 중에|세 번째로|아무 말 없이|부산 지점에서|아주 꼼꼼하게|"
        "금요일 밤늦게|이사님의 요청으로|휴일인데도|한 시간도 안 되어|긴 토론 끝에|오타 때문에|"
        "새 고객을 위해|감사의 일환으로|공유 드라이브에서|점심 전에|시스템이 멈춘 동안|출시를 앞두고|"
        "이사회 회의를 위해|동료 두 명과 함께|환자가 불만을 제기한 뒤|주간 뉴스레터에서|서울 학회에서|"
        "시간에 쫓기며"
    ),
    _bank(
        "분기 보고서를|학습 데이터를|생검 슬라이드를|고객 불만을|새 요금제를|서버 로그를|계약서 초안을|"
        "안전 점검표를|마케팅 예산을|환자 기록을|릴리스 노트를|설문 결과를|배송 일정을|연간 전망을|"
        "모델 가중치를|청구서를|회의록을|검사 결과를|출장 계획을|채용 계획을|재고 목록을|시험 문제를|"
        "버그 보고서를|디자인 시안을|연구 논문을"
    ),
    _bank(
        "검토했다|승인했다|거절했다|요약했다|번역했다|수정했다|삭제했다|보관했다|공유했다|문제 삼았다|"
        "분석했다|일정에 넣었다|연기했다|서명했다|인쇄했다|업로드했다|시험했다|배포했다|취소했다|논의했다|"
        "발표했다|바로잡았다|측정했다|주문했다|보고했다"
    ),
)
SEED = 20261122
K = 10
# Noise added to each real embedding, per dimension, for the perturbed copies.
COPY_NOISE = 0.02
# An exact search of a million vectors takes a third of a second here: time fewer of them.
LATENCY_BUDGET_S = 10.0
MIN_SAMPLES = 50
# Cores' worth of CPU used by other processes above which a phase is called disturbed.
OTHER_CPU_WARNING = 0.25


@dataclass
class Span:
    seconds: float = 0.0
    other_cpu: float = 0.0  # cores' worth of CPU that other processes used meanwhile


SPANS: dict[str, Span] = {}


@contextlib.contextmanager
def timed(name: str) -> Iterator[Span]:
    """Wall time of the block, and how much of the box other processes took meanwhile."""
    span = SPANS[name] = Span()
    wall, own, box = time.perf_counter(), time.process_time(), _box_cpu_seconds()
    yield span
    span.seconds = time.perf_counter() - wall
    if box is not None:
        others = (_box_cpu_seconds() - box) - (time.process_time() - own)
        span.other_cpu = max(0.0, others) / span.seconds


def sentence(rng: random.Random) -> str:
    """One sentence, Korean or English with equal odds: subject, verb, object, complement."""
    if rng.random() < 0.5:
        subject, verb, obj, complement = (rng.choice(bank) for bank in EN)
        return f"{subject} {verb} {obj} {complement}."
    subject, when, obj, verb = (rng.choice(bank) for bank in KO)
    return f"{subject} {when} {obj} {verb}."


def generate_texts(chunks: int, queries: int) -> tuple[list[str], list[str]]:
    """`chunks` distinct chunks of 1-3 sentences (languages mixed within a chunk), and `queries`
    distinct one-sentence queries that are not chunks themselves."""
    rng = random.Random(SEED)
    seen: set[str] = set()
    texts: list[str] = []
    while len(texts) < chunks:
        text = " ".join(sentence(rng) for _ in range(rng.randint(1, 3)))
        if text not in seen:
            seen.add(text)
            texts.append(text)
    asked: list[str] = []
    while len(asked) < queries:
        text = sentence(rng)
        if text not in seen:
            seen.add(text)
            asked.append(text)
    return texts, asked


def perturbed_copies(real: np.ndarray, total: int) -> np.ndarray:
    """`total` unit vectors: the real ones first, then copies of them with Gaussian noise, renormalised."""
    rng = np.random.default_rng(SEED)
    out = np.empty((total, real.shape[1]), dtype=np.float32)
    out[: len(real)] = real
    for start in range(len(real), total, len(real)):
        stop = min(total, start + len(real))
        block = out[start:stop]
        block[:] = real[: stop - start]
        block += rng.standard_normal(block.shape, dtype=np.float32) * COPY_NOISE
        faiss.normalize_L2(block)
    return out


def exact_top(data: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Ground truth: positions of the exact top K for each query."""
    return faiss.knn(queries, data, K, metric=faiss.METRIC_INNER_PRODUCT)[1]


def measure(index: vectors.VectorIndex, queries: np.ndarray, truth: np.ndarray, samples: int) -> dict:
    """Single-query latency over `samples` searches (cycling over the queries; fewer when they would
    take more than LATENCY_BUDGET_S) and recall@10."""
    found = index.search(queries, K)
    recall = np.mean(
        [len({i for i, _ in row} & set(want.tolist())) / K for row, want in zip(found, truth, strict=True)]
    )
    for query in queries[:5]:  # warm caches and the first-use paths
        began = time.perf_counter()
        index.search(query, K)
    samples = max(MIN_SAMPLES, min(samples, int(LATENCY_BUDGET_S / (time.perf_counter() - began))))
    latencies = []
    for n in range(samples):
        began = time.perf_counter()
        index.search(queries[n % len(queries)], K)
        latencies.append(time.perf_counter() - began)
    latencies.sort()
    return {
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "recall": float(recall),
        "searches": samples,
    }


def build_and_measure(
    label: str, kind: str, data: np.ndarray, queries: np.ndarray, truth: np.ndarray, root: Path, samples: int
) -> dict:
    """rebuild() a fresh collection of `kind` from `data` (ids = positions), then measure it; files removed after."""
    exact_max = len(data) if kind == "flat" else 0
    collection = f"{label}-{kind}"
    with override_settings(VECTOR_INDEX_DIR=root, VECTOR_EXACT_MAX=exact_max, VECTOR_APPROXIMATE_KIND=kind):
        index = vectors.VectorIndex(collection, root)
        print(f"  {label}: building {kind} ...", flush=True)
        with timed(f"{label} {kind} build") as span:
            index.rebuild(np.arange(len(data), dtype=np.int64), data)
        build_s = span.seconds
        info = index.info()
        size = sum(path.stat().st_size for path in (root / collection).iterdir() if path.name.startswith("index."))
        row = {"set": label, "kind": kind, "vectors": info["count"], "build_s": build_s, "params": info["params"]}
        with timed(f"{label} {kind} search"):
            row.update(measure(index, queries, truth, samples))
        row["index_mb"] = size / 2**20
    del index
    gc.collect()
    for path in (root / collection).iterdir():
        path.unlink()
    print(f"  {label} {kind}: {row}", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks to embed and index (default 100000)")
    parser.add_argument("--vectors", type=int, default=1_000_000, help="vectors for the large set (default 1000000)")
    parser.add_argument("--queries", type=int, default=200, help="query texts, embedded like chunks (default 200)")
    parser.add_argument("--samples", type=int, default=500, help="single-query searches timed per index (default 500)")
    parser.add_argument("--kinds", default="flat,hnsw,ivf", help="index kinds to compare (default flat,hnsw,ivf)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures to this file")
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",")
    facts = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "faiss": metadata.version("faiss-cpu"),
        "numpy": np.__version__,
        "model": embeddings.model_name(),
        "embeddings_threads": settings.EMBEDDINGS_THREADS,
        "batch_size": settings.EMBEDDINGS_BATCH_SIZE,
        "faiss_threads": faiss.omp_get_max_threads(),
    }
    print("machine: " + ", ".join(f"{key}={value}" for key, value in facts.items()), flush=True)

    texts, query_texts = generate_texts(args.chunks, args.queries)
    print(f"generated {len(texts)} chunks ({sum(map(len, texts)) / len(texts):.0f} characters on average)")
    embeddings.embed(["warm-up"])  # loading the model is not embedding throughput
    with timed("embed") as span:
        data = embeddings.embed(texts)
    embed_s = span.seconds
    queries = embeddings.embed(query_texts)
    print(f"embedded in {embed_s:.1f} s: {len(texts) / embed_s:.0f} chunks/s", flush=True)

    figures: dict = {"machine": facts}
    with tempfile.TemporaryDirectory(prefix="aiplatform-bench-vectors-") as tmp:
        root = Path(tmp)
        with override_settings(VECTOR_INDEX_DIR=root):
            index = vectors.VectorIndex("chunks", root)
            with timed("index") as span:
                index.rebuild(np.arange(len(data), dtype=np.int64), data)
            index_s = span.seconds
            indexed_kind = index.info()["kind"]
            extra = np.arange(len(data), len(data) + 1000, dtype=np.int64)
            with timed("add 1000") as span:
                index.add(extra, data[:1000])
            add_s = span.seconds
        del index  # free its memory before the next builds
        gc.collect()
        throughput = {
            "chunks": len(texts),
            "embed_s": embed_s,
            "index_s": index_s,
            "index_kind": indexed_kind,
            "embed_chunks_per_s": len(texts) / embed_s,
            "index_chunks_per_s": len(texts) / index_s,
            "total_chunks_per_s": len(texts) / (embed_s + index_s),
            "add_1000_s": add_s,
        }
        figures["throughput"] = throughput

        rows = []
        truth = exact_top(data, queries)
        for kind in kinds:
            rows.append(build_and_measure("real", kind, data, queries, truth, root, args.samples))
        if args.vectors > len(data):
            big = perturbed_copies(data, args.vectors)
            first_copies = big[len(data) : 2 * len(data)]
            copy_cos = float(np.mean(np.sum(first_copies * data[: len(first_copies)], axis=1)))
            figures["copies_mean_cosine_to_original"] = copy_cos
            print(
                f"{args.vectors} vectors: {len(data)} real + copies with N(0, {COPY_NOISE}^2) noise per dimension, "
                f"renormalised (mean cosine to their original {copy_cos:.3f})"
            )
            truth = exact_top(big, queries)
            for kind in kinds:
                rows.append(build_and_measure("synthetic", kind, big, queries, truth, root, args.samples))
            del big
        figures["search"] = rows

    print()
    print(
        f"{throughput['chunks']} chunks: embed {embed_s:.1f} s ({throughput['embed_chunks_per_s']:.0f}/s), "
        f"index ({indexed_kind}) {index_s:.1f} s ({throughput['index_chunks_per_s']:.0f}/s), "
        f"total {throughput['total_chunks_per_s']:.0f} chunks/s; add(1000) to it: {add_s:.2f} s"
    )
    print()
    print_table(
        [
            {
                "set": row["set"],
                "vectors": str(row["vectors"]),
                "kind": row["kind"],
                "build s": f"{row['build_s']:.1f}",
                "params": ",".join(f"{k}={v}" for k, v in row["params"].items() if k != "trained_count") or "-",
                "p50 ms": f"{row['p50_ms']:.2f}",
                "p99 ms": f"{row['p99_ms']:.2f}",
                "searches": str(row["searches"]),
                "recall@10": f"{row['recall']:.3f}",
                "file MB": f"{row['index_mb']:.0f}",
            }
            for row in rows
        ]
    )
    print()
    for row in rows:
        flat = next((other for other in rows if other["set"] == row["set"] and other["kind"] == "flat"), None)
        if flat and row is not flat:
            print(
                f"{row['set']} {row['kind']}: p50 {row['p50_ms'] / flat['p50_ms']:.3f} x flat's, "
                f"build {row['build_s'] / flat['build_s']:.1f} x, recall@10 {row['recall']:.3f}"
            )
    figures["phases"] = {name: vars(span) for name, span in SPANS.items()}
    for name, span in SPANS.items():
        if span.other_cpu > OTHER_CPU_WARNING:
            print(f"{name}: {span.other_cpu:.2f} cores went to other processes meanwhile; figures may be disturbed")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
