"""Reads: what a caller may see, and what RAG retrieves."""

from dataclasses import dataclass

from django.conf import settings

from aiplatform import embeddings, vectors

from .models import VECTOR_COLLECTION, ConversationLog, DocumentChunk

# Every field of a log as the API shows it (the detail, a chat answer).
LOG_FIELDS = (
    "id",
    "user_id",
    "session_id",
    "question",
    "answer",
    "status",
    "error",
    "error_code",
    "provider",
    "model",
    "streamed",
    "top_k",
    "sources",
    "latency_ms",
    "retrieval_ms",
    "prompt_tokens",
    "completion_tokens",
    "rating",
    "feedback_comment",
    "feedback_tags",
    "feedback_at",
    "created_at",
)
# The columns of the log list: what a row of a page shows. The error
# message, the sources (excerpts of up to 300 characters) and the feedback
# tags are read from the detail.
LOG_LIST_FIELDS = tuple(name for name in LOG_FIELDS if name not in {"error", "sources", "feedback_tags"})


def sees_all_logs(user) -> bool:
    """Staff users, and API keys without an owner (a service integrating the
    chat, such as a front end's back end), see every log; anyone else sees
    the logs of their own account."""
    return bool(getattr(user, "is_staff", False)) or getattr(user, "pk", None) is None


def logs_visible_to(user):
    queryset = ConversationLog.objects.all()
    if not sees_all_logs(user):
        queryset = queryset.filter(account=user)
    return queryset


@dataclass(frozen=True)
class RetrievedChunk:
    chunk_id: int
    document_id: int
    title: str
    text: str
    score: float


def chunks_retrieve(*, question: str, top_k: int) -> list[RetrievedChunk]:
    """The knowledge-base chunks nearest to a question, best first, scoring
    at least RAG_MIN_SCORE."""
    index = vectors.get_index(VECTOR_COLLECTION)
    hits = index.search(embeddings.embed([question]), top_k)[0]
    hits = [(chunk_id, score) for chunk_id, score in hits if score >= settings.RAG_MIN_SCORE]
    if not hits:
        return []
    rows = DocumentChunk.objects.filter(pk__in=[chunk_id for chunk_id, _ in hits]).order_by()
    by_id = {row[0]: row for row in rows.values_list("id", "document_id", "document__title", "text")}
    # An id can outlive its row for a moment (deleted document, index not yet
    # updated): skip it.
    return [RetrievedChunk(*by_id[chunk_id], score) for chunk_id, score in hits if chunk_id in by_id]


def logs_rated(*, rating: int | None = None, date_from=None, date_to=None, limit: int | None = None):
    """(id, question, answer, rating) of logs that carry feedback, oldest
    first: labelled data for other apps (modeltrainer imports them). `rating`
    1 or -1 keeps one kind; dates are local days, inclusive."""
    queryset = ConversationLog.objects.filter(rating__isnull=False)
    if rating is not None:
        queryset = queryset.filter(rating=rating)
    if date_from is not None:
        queryset = queryset.filter(day__gte=date_from)
    if date_to is not None:
        queryset = queryset.filter(day__lte=date_to)
    rows = queryset.order_by("pk").values_list("pk", "question", "answer", "rating")
    return rows[:limit] if limit else rows.iterator(chunk_size=2000)
