"""Writing conversation logs: record, feedback, delete. Each keeps the daily
rollups in step in the same transaction."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from aiplatform import text
from aiplatform.errors import InvalidInput

from ..choices import Rating
from ..models import ConversationLog
from ..rollups import rollup_log, rollup_rating_change
from ..search import log_terms_replace, log_terms_write

FEEDBACK_COMMENT_MAX_CHARS = 2000
FEEDBACK_TAGS_MAX = 10
FEEDBACK_TAG_MAX_CHARS = 40
# InnoDB full-text indexes ignore longer tokens (innodb_ft_max_token_size).
_MAX_TERM_CHARS = 84


def log_analyse(*, question: str, answer: str) -> tuple[str, str]:
    """(full-text document, keywords) of a question and its answer.

    Keywords come from the question only: they are what users ask about,
    while the answer mostly repeats the knowledge base.
    """
    terms = [term for term in text.search_terms(f"{question}\n{answer}") if len(term) <= _MAX_TERM_CHARS]
    keywords = [term for term in text.keywords(question) if len(term) <= 64]
    return text.fulltext_document(terms), " ".join(keywords)


def logs_search_terms_rebuild(*, batch_size: int = 2000, progress=None) -> int:
    """Derive every log's search terms again with the current analysis and
    update the logs whose terms changed (and their index rows); returns how
    many changed. Run when aiplatform.text changes what a text is reduced
    to: a query is analysed the new way, so logs stored the old way would
    not be found. One transaction per batch, so it can be interrupted and
    run again."""
    last = changed = seen = 0
    while True:
        rows = list(
            ConversationLog.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "question", "answer", "search_terms")[:batch_size]
        )
        if not rows:
            return changed
        last = rows[-1][0]
        updates = []
        for pk, question, answer, stored in rows:
            derived, _keywords = log_analyse(question=question, answer=answer)
            if derived != stored:
                updates.append(ConversationLog(pk=pk, search_terms=derived))
        if updates:
            with transaction.atomic():
                ConversationLog.objects.bulk_update(updates, ["search_terms"], batch_size=500)
                log_terms_replace([log.pk for log in updates])
        changed += len(updates)
        seen += len(rows)
        if progress:
            progress(seen, changed)


def log_record(
    *,
    account,
    user_id: str,
    question: str,
    answer: str,
    status: str,
    latency_ms: float,
    session_id: str = "",
    error: str = "",
    error_code: str = "",
    provider: str = "",
    model: str = "",
    streamed: bool = False,
    top_k: int = 0,
    sources: list | None = None,
    retrieval_ms: float | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    created_at=None,
) -> ConversationLog:
    """Store one question and what became of it, and count it in the rollups."""
    created_at = created_at or timezone.now()
    search_terms, keywords = log_analyse(question=question, answer=answer)
    log = ConversationLog(
        account=account if getattr(account, "pk", None) else None,
        user_id=user_id,
        session_id=session_id,
        question=question,
        answer=answer,
        status=status,
        error=error,
        error_code=error_code,
        provider=provider,
        model=model,
        streamed=streamed,
        top_k=top_k,
        sources=sources or [],
        latency_ms=round(latency_ms, 2),
        retrieval_ms=None if retrieval_ms is None else round(retrieval_ms, 2),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        search_terms=search_terms,
        keywords=keywords,
        created_at=created_at,
        day=timezone.localdate(created_at),
    )
    with transaction.atomic():
        log.save()
        log_terms_write([log])
        rollup_log(log)
    return log


def log_feedback_set(*, log: ConversationLog, rating: int, comment: str = "", tags: list[str] | None = None):
    """Set (or replace) the feedback on an answer."""
    if rating not in Rating.values:
        raise InvalidInput(_("Rating must be 1 or -1."), field="rating")
    if len(comment) > FEEDBACK_COMMENT_MAX_CHARS:
        raise InvalidInput(
            _("At most %(n)d characters.") % {"n": FEEDBACK_COMMENT_MAX_CHARS}, field="comment", code="too_long"
        )
    tags = [tag.strip() for tag in (tags or []) if tag.strip()]
    if len(tags) > FEEDBACK_TAGS_MAX or any(len(tag) > FEEDBACK_TAG_MAX_CHARS for tag in tags):
        raise InvalidInput(
            _("At most %(n)d tags of %(c)d characters each.") % {"n": FEEDBACK_TAGS_MAX, "c": FEEDBACK_TAG_MAX_CHARS},
            field="tags",
        )
    with transaction.atomic():
        locked = ConversationLog.objects.select_for_update().get(pk=log.pk)
        old_rating = locked.rating
        locked.rating = rating
        locked.feedback_comment = comment
        locked.feedback_tags = list(dict.fromkeys(tags))
        locked.feedback_at = timezone.now()
        locked.save(update_fields=["rating", "feedback_comment", "feedback_tags", "feedback_at"])
        rollup_rating_change(locked, old_rating=old_rating)
    return locked


def log_delete(*, log: ConversationLog) -> None:
    with transaction.atomic():
        locked = ConversationLog.objects.select_for_update().filter(pk=log.pk).first()
        if locked is None:
            return
        rollup_log(locked, sign=-1)
        locked.delete()
