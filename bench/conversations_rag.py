"""The RAG part of the conversations benchmark: a 10,000-chunk knowledge base,
then POST /api/rag-chat in-process with the local provider, its provider time
and the breakdown of the rest.

Imported after django.setup(). The logs the requests write are deleted again
(through the app's own `log_delete`, which keeps the rollups in step), so the
loaded database keeps its row count between runs.
"""

import hashlib
import random
import time
from dataclasses import dataclass, field

import numpy as np
from django.apps import apps
from django.db.models import Sum
from django.test import override_settings
from rest_framework.test import APIRequestFactory, force_authenticate

from aiplatform import embeddings, llm, vectors
from aiplatform.llm import complete
from bench import conversations_text as bank
from bench.conversations_db import OUT
from conversations.api.serializers import ConversationLogSerializer
from conversations.api.views import RagChatView
from conversations.choices import DocumentStatus
from conversations.models import VECTOR_COLLECTION, ConversationLog, DailyStat, Document, DocumentChunk
from conversations.services import chat, logs
from conversations.services.chat import chat_turn_start
from conversations.services.documents import document_create, documents_index, vector_index_rebuild
from conversations.services.logs import log_delete

RAG_USER = "bench-rag"
TOP_K = 4
SEED = 11
EMBEDDING_CACHE = OUT / "conversations-kb-embeddings.npz"


@dataclass
class KnowledgeBaseReport:
    documents: int
    chunks: int
    create_s: float = 0.0
    index_s: float = 0.0
    built: bool = False


def knowledge_base_ensure(chunks: int, *, progress=print) -> KnowledgeBaseReport:
    """At least `chunks` indexed chunks (generated documents); built once, then reused.

    Embedding 10,000 chunks of up to 800 characters takes minutes on 2 cores, so the vectors
    are also kept in EMBEDDING_CACHE by text: another bench database with the same documents
    stores them as they are and builds its index with the app's vector_index_rebuild.
    """
    index = vectors.get_index(VECTOR_COLLECTION)
    model = embeddings.model_name()
    have = DocumentChunk.objects.count()
    pending = DocumentChunk.objects.exclude(embedding_model=model).count()
    if have >= chunks and not pending and index.info()["count"] == have:
        return KnowledgeBaseReport(Document.objects.count(), have)
    rng = random.Random(SEED + have)
    started = time.perf_counter()
    while have < chunks:
        title, body = bank.document_text(rng, paragraphs=rng.randint(4, 9))
        document, created = document_create(title=title, text_content=body, index=False)
        have += document.chunk_count if created else 0
    create_s = time.perf_counter() - started
    progress(f"  created {Document.objects.count():,} documents, {have:,} chunks in {create_s:.1f} s; embedding...")
    started = time.perf_counter()
    cached = _embeddings_from_cache(model)
    if cached:
        progress(f"  {cached:,} chunk vectors taken from {EMBEDDING_CACHE.name}")
        vector_index_rebuild()
    else:
        documents_index(batch_size=2048)
    index_s = time.perf_counter() - started
    if cached < have:
        _embeddings_to_cache(model)
    indexed = Document.objects.filter(status=DocumentStatus.INDEXED).count()
    return KnowledgeBaseReport(indexed, index.info()["count"], create_s, index_s, built=True)


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def _embeddings_from_cache(model: str) -> int:
    if not EMBEDDING_CACHE.exists():
        return 0
    with np.load(EMBEDDING_CACHE) as cache:
        if str(cache["model"]) != model:
            return 0
        rows_by_digest = {digest: i for i, digest in enumerate(cache["digests"].tolist())}
        matrix = cache["vectors"]
    rows = []
    for chunk in DocumentChunk.objects.exclude(embedding_model=model).only("id", "text"):
        position = rows_by_digest.get(_digest(chunk.text))
        if position is not None:
            chunk.embedding = matrix[position].astype(np.float32).tobytes()
            chunk.embedding_model = model
            rows.append(chunk)
    DocumentChunk.objects.bulk_update(rows, ["embedding", "embedding_model"], batch_size=500)
    return len(rows)


def _embeddings_to_cache(model: str) -> None:
    digests, parts = [], []
    for text, blob in DocumentChunk.objects.filter(embedding_model=model).values_list("text", "embedding"):
        digests.append(_digest(text))
        parts.append(np.frombuffer(bytes(blob), dtype=np.float32))
    EMBEDDING_CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(EMBEDDING_CACHE, model=np.array(model), digests=np.array(digests), vectors=np.vstack(parts))


def rag_logs_clean() -> int:
    """Delete the logs this benchmark's requests wrote, and the rollup rows they left at zero."""
    deleted = 0
    for log in ConversationLog.objects.filter(user_id=RAG_USER).order_by("pk"):
        log_delete(log=log)
        deleted += 1
    for model in apps.get_app_config("conversations").get_models():
        if model.__name__.startswith(("Daily", "Monthly")):
            model.objects.filter(count=0).delete()
    return deleted


def logs_loaded(expected: int) -> bool:
    """Whether the database holds the `expected` generated logs and their rollups."""
    logs = ConversationLog.objects.exclude(user_id=RAG_USER).count()
    counted = DailyStat.objects.aggregate(total=Sum("count"))["total"] or 0
    return logs == expected == counted


@dataclass
class RagTimings:
    """Milliseconds per request, one list per part, in request order."""

    total: list[float] = field(default_factory=list)
    provider: list[float] = field(default_factory=list)
    provider_alone: list[float] = field(default_factory=list)
    overhead: list[float] = field(default_factory=list)
    parts: dict[str, list[float]] = field(default_factory=dict)

    def add(self, total: float, parts: dict, provider_alone: float) -> None:
        self.total.append(total)
        self.provider.append(parts["provider"])
        self.provider_alone.append(provider_alone)
        self.overhead.append(total - parts["provider"])
        for name in _REPORTED:
            self.parts.setdefault(name, []).append(parts.get(name, 0.0))


class _Spans:
    """Wraps functions the request calls (in this process only) and adds up the time spent in
    each during one request."""

    def __init__(self):
        self.ms: dict[str, float] = {}
        self._undo: list = []

    def wrap(self, owner, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.ms[label] = self.ms.get(label, 0.0) + (time.perf_counter() - started) * 1000

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# Settings for the second series of `rag_measure`, asked right after each question as configured
# (one thread for each, the defaults).
TWO_THREADS = {"EMBEDDINGS_QUERY_THREADS": 2, "VECTOR_QUERY_THREADS": 2}


def rag_measure(
    questions: list[str], *, user, iterations: int, warmup: int = 5, variants: dict[str, dict] | None = None
) -> dict[str, RagTimings]:
    """POST /api/rag-chat through the view (rendered), `iterations` times, cycling over
    `questions`. The parts are timed inside those same requests by wrapping the functions the
    request calls: embedding, FAISS search, chunks_retrieve (the chunk fetch is what remains of
    it), the provider, the log write (its analysis and rollups separately), the serializer.
    Then the provider again, alone, on the same messages.

    The same questions are asked under each variant (name -> settings to override), one variant
    after the other. By default: as configured, then with two BLAS and two OpenMP threads for the
    question (EMBEDDINGS_QUERY_THREADS, VECTOR_QUERY_THREADS; one each by default).
    """
    variants = variants if variants is not None else {"as configured": {}, "two threads": TWO_THREADS}
    factory = APIRequestFactory(HTTP_HOST="127.0.0.1")
    view = RagChatView.as_view()
    embeddings.embed(["warm-up"])  # creates the encoder
    spans = _Spans()
    spans.wrap(embeddings, "embed", "embed question (USE)")
    spans.wrap(vectors.VectorIndex, "search", "FAISS search")
    spans.wrap(chat, "chunks_retrieve", "chunks_retrieve")
    spans.wrap(llm, "complete", "provider")
    spans.wrap(chat, "log_record", "log write (log_record)")
    spans.wrap(logs, "log_analyse", "  of which: log_analyse (Kiwi)")
    spans.wrap(logs, "rollup_log", "  of which: rollups")
    spans.wrap(ConversationLogSerializer, "to_representation", "response serializer")
    out = {name: RagTimings() for name in variants}
    try:
        # One variant after the other, not alternating: after a call on two BLAS threads the second
        # thread keeps spinning for a while, taking the core the next single-thread request and the
        # database need.
        for name, overrides in variants.items():
            with override_settings(**overrides):
                for i in range(warmup + iterations):
                    total, parts, alone = _rag_request(factory, view, spans, user, questions[i % len(questions)])
                    if i >= warmup:
                        out[name].add(total, parts, alone)
    finally:
        spans.restore()
    return out


def _rag_request(factory, view, spans: _Spans, user, question: str) -> tuple[float, dict, float]:
    request = factory.post("/api/rag-chat", {"question": question, "top_k": TOP_K, "user_id": RAG_USER}, format="json")
    force_authenticate(request, user=user)
    spans.ms = {}
    started = time.perf_counter()
    response = view(request)
    response.render()
    total = _ms(started)
    if response.status_code != 200:
        raise RuntimeError(f"POST /api/rag-chat answered {response.status_code}: {response.content[:300]!r}")
    parts = dict(spans.ms)
    parts["chunk fetch (chunks_retrieve - embed - search)"] = (
        parts["chunks_retrieve"] - parts["embed question (USE)"] - parts["FAISS search"]
    )
    parts["rest: DRF, validation, prompt, rendering"] = total - sum(
        ms for name, ms in parts.items() if name in _TOP_LEVEL
    )
    turn = chat_turn_start(account=user, question=question, user_id=RAG_USER, top_k=TOP_K)
    messages = turn.messages()
    started = time.perf_counter()
    complete(messages)
    return total, parts, _ms(started)


# The spans that do not overlap: together with the rest they make up the request.
_TOP_LEVEL = ("chunks_retrieve", "provider", "log write (log_record)", "response serializer")
_REPORTED = (
    "embed question (USE)",
    "FAISS search",
    "chunk fetch (chunks_retrieve - embed - search)",
    "chunks_retrieve",
    "log write (log_record)",
    "  of which: log_analyse (Kiwi)",
    "  of which: rollups",
    "response serializer",
    "rest: DRF, validation, prompt, rendering",
)
