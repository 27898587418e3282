"""RAG chat: retrieve chunks, generate an answer, store the log, in one request.

Whatever happens, the question is stored: a failed retrieval or generation is
logged with status `failed` and the error before the error reaches the
client, and a stream the client cuts is logged as `interrupted` with the part
that was generated.
"""

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext as _

from aiplatform import llm
from aiplatform.errors import DomainError, InvalidInput

from ..choices import LogStatus
from ..models import ConversationLog
from ..selectors import RetrievedChunk, chunks_retrieve
from .logs import log_record

logger = logging.getLogger(__name__)

ID_MAX_CHARS = 64
SOURCE_EXCERPT_CHARS = 300
SYSTEM_PROMPT = (
    "당신은 아래 자료만 근거로 답하는 도우미입니다. 답에 사용한 자료의 번호를 [1]처럼 표시하세요. "
    "자료에 답이 없으면 모른다고 답하세요. 질문과 같은 언어로 답하세요.\n"
    "Answer only from the sources below, cite them as [n], and say so when they do not contain the answer."
)


@dataclass
class ChatTurn:
    """A validated question with what was retrieved for it."""

    account: object
    user_id: str
    session_id: str
    question: str
    top_k: int
    started: float = field(default_factory=time.perf_counter)
    chunks: list[RetrievedChunk] = field(default_factory=list)
    retrieval_ms: float | None = None

    def messages(self) -> list[llm.ChatMessage]:
        context = "\n\n".join(f"[{n}] {chunk.text}" for n, chunk in enumerate(self.chunks, start=1))
        system = f"{SYSTEM_PROMPT}\n\n자료 / Sources:\n{context}" if context else SYSTEM_PROMPT
        return [{"role": "system", "content": system}, {"role": "user", "content": self.question}]

    def sources(self, answer: str) -> list[dict]:
        return [
            {
                "marker": n,
                "chunk_id": chunk.chunk_id,
                "document_id": chunk.document_id,
                "title": chunk.title,
                "score": round(chunk.score, 4),
                "excerpt": chunk.text[:SOURCE_EXCERPT_CHARS],
                "cited": f"[{n}]" in answer,
            }
            for n, chunk in enumerate(self.chunks, start=1)
        ]

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def record(
        self,
        *,
        answer: str,
        status: str,
        completion: llm.Completion | None = None,
        error=None,
        streamed=False,
        provider: str = "",
        model: str = "",
    ) -> ConversationLog:
        """Store the log of this turn. Provider and model come from the
        completion; without one (a failure, a cut stream) from what was tried
        (`provider`/`model`, or the error's), else the configured ones: a
        failure is looked into by the model that failed."""
        if completion is not None:
            provider, model = completion.provider, completion.model
        else:
            provider = provider or getattr(error, "provider", "") or _provider()
            model = model or getattr(error, "model", "") or _model()
        return log_record(
            account=self.account,
            user_id=self.user_id,
            session_id=self.session_id,
            question=self.question,
            answer=answer,
            status=status,
            error=getattr(error, "message", str(error or "")),
            error_code=getattr(error, "code", "") if error else "",
            provider=provider,
            model=model,
            streamed=streamed,
            top_k=self.top_k,
            sources=self.sources(answer),
            latency_ms=self.elapsed_ms(),
            retrieval_ms=self.retrieval_ms,
            prompt_tokens=completion.prompt_tokens if completion else None,
            completion_tokens=completion.completion_tokens if completion else None,
        )


def _clean_id(value, name: str) -> str:
    value = "" if value is None else str(value).strip()
    if len(value) > ID_MAX_CHARS:
        raise InvalidInput(_("At most %(n)d characters.") % {"n": ID_MAX_CHARS}, field=name, code="too_long")
    return value


def chat_turn_start(*, account, question, user_id=None, session_id=None, top_k=None) -> ChatTurn:
    """Validate a question and retrieve its chunks. A retrieval failure is
    logged as a failed turn and raised."""
    if not isinstance(question, str) or not question.strip():
        raise InvalidInput(_("The question is empty."), field="question", code="required")
    question = question.strip()
    limit = settings.RAG_QUESTION_MAX_CHARS
    if len(question) > limit:
        raise InvalidInput(
            _("The question is longer than %(n)d characters.") % {"n": limit}, field="question", code="too_long"
        )
    top_k = settings.RAG_TOP_K if top_k is None else top_k
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= settings.RAG_TOP_K_MAX:
        raise InvalidInput(_("Must be an integer between 1 and %(n)d.") % {"n": settings.RAG_TOP_K_MAX}, field="top_k")
    turn = ChatTurn(
        account=account,
        user_id=_clean_id(user_id, "user_id") or getattr(account, "username", "") or "guest",
        session_id=_clean_id(session_id, "session_id"),
        question=question,
        top_k=top_k,
    )
    try:
        turn.chunks = chunks_retrieve(question=question, top_k=top_k)
    except DomainError as exc:
        _fail(turn, exc)
    turn.retrieval_ms = turn.elapsed_ms()
    return turn


def _fail(turn: ChatTurn, exc: DomainError, *, answer: str = "", streamed: bool = False):
    log = turn.record(answer=answer, status=LogStatus.FAILED, error=exc, streamed=streamed)
    exc.extra = {**exc.extra, "log_id": log.pk}
    raise exc


def _provider() -> str:
    try:
        return llm.provider_name()
    except DomainError:
        return ""


def _model() -> str:
    try:
        return llm.model_name()
    except DomainError:
        return ""


def rag_chat(*, account, question, user_id=None, session_id=None, top_k=None) -> ConversationLog:
    """Answer a question from the knowledge base and return its stored log."""
    turn = chat_turn_start(account=account, question=question, user_id=user_id, session_id=session_id, top_k=top_k)
    try:
        completion = llm.complete(turn.messages())
    except DomainError as exc:
        _fail(turn, exc)
    return turn.record(answer=completion.text, status=LogStatus.COMPLETED, completion=completion)


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class ChatEventStream:
    """Server-sent events of one streamed answer: `sources`, `delta`s, then
    `done` with the stored log, or `error`. Started by `rag_chat_stream`, so
    a provider that cannot be reached is a plain HTTP error before any event."""

    def __init__(self, turn: ChatTurn, stream, first: str | None):
        self.turn = turn
        self.stream = stream
        self.first = first
        self.log: ConversationLog | None = None

    def __iter__(self) -> Iterator[str]:
        turn, stream = self.turn, self.stream
        status, error = LogStatus.INTERRUPTED, None
        try:
            yield _sse("sources", {"sources": turn.sources("")})
            if self.first is not None:
                yield _sse("delta", {"text": self.first})
                for delta in stream:
                    yield _sse("delta", {"text": delta})
            status = LogStatus.COMPLETED
        except DomainError as exc:
            status, error = LogStatus.FAILED, exc
        finally:
            # Runs also when the client goes away (GeneratorExit at a yield):
            # stop the upstream call, then keep what was generated.
            stream.close()
            completion = stream.result if status == LogStatus.COMPLETED else None
            self.log = turn.record(
                answer=completion.text if completion else stream.text_so_far,
                status=status,
                completion=completion,
                error=error,
                streamed=True,
                provider=stream.provider,
                model=stream.model,
            )
        if error is not None:
            body = {"status": error.status_code, "code": error.code, "message": error.message}
            yield _sse("error", {"error": body, "id": self.log.pk})
        else:
            from ..api.serializers import ConversationLogSerializer

            yield _sse("done", ConversationLogSerializer(self.log).data)


def rag_chat_stream(*, account, question, user_id=None, session_id=None, top_k=None) -> ChatEventStream:
    """Start a streamed answer: validation, retrieval and the first delta
    happen here, so their failures are ordinary HTTP errors (and logged)."""
    turn = chat_turn_start(account=account, question=question, user_id=user_id, session_id=session_id, top_k=top_k)
    stream = None
    try:
        stream = llm.stream(turn.messages())
        first = next(iter(stream), None)
    except DomainError as exc:
        if stream is not None:
            stream.close()
        _fail(turn, exc, answer=stream.text_so_far if stream is not None else "", streamed=True)
    return ChatEventStream(turn, stream, first)
