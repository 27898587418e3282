"""Demo data of the conversations app: a small knowledge base about the
platform itself (demo_data/), and two weeks of conversations asked through
the RAG chat (the offline `local` chat provider, the configured embeddings),
so answers and sources are real.

Loaded by `manage.py load_demo`; skipped when demo documents already exist.
"""

import datetime as dt
from pathlib import Path

from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone
from django.utils.translation import gettext as _

from aiplatform import llm
from aiplatform.demo import DEMO_USERNAME

from .choices import DocumentFormat, DocumentSource, LogStatus, Rating
from .models import ConversationLog, Document
from .rollups import rollups_rebuild
from .services import chat, documents, logs

DATA_DIR = Path(__file__).resolve().parent / "demo_data"
DAYS = 14

# One session per row: (end user, days ago (< DAYS), local time, questions
# asked a couple of minutes apart). Sessions dated today are moved before "now".
SESSIONS = [
    ("kim", 13, "09:12", ["대화 기록은 어디에 저장되나요?", "실패한 질문도 기록에 남나요?"]),
    ("guest", 13, "20:15", ["로그인 없이 채팅을 쓸 수 있나요?"]),
    ("lee", 12, "10:30", ["How do I create an API key for the chat frontend?", "API 키를 폐기하려면 어떻게 하나요?"]),
    ("park", 12, "11:00", ["top_keywords는 어떻게 계산되나요?", "실패율은 어떻게 계산하나요?"]),
    ("kim", 11, "14:03", ["로그를 검색할 때 조사가 붙은 단어도 찾아지나요?", "날짜 필터 date_to는 그날을 포함하나요?"]),
    ("lee", 10, "15:45", ["What happens when the rate limit is exceeded?", "Which header carries the API key?"]),
    ("park", 9, "14:30", ["How can I load the exported logs into pandas?", "내보내는 열에는 무엇이 있나요?"]),
    ("guest", 9, "21:02", ["답변이 답을 찾지 못했다고 나와요", "피드백은 어떻게 남기나요?"]),
    (
        "kim",
        8,
        "10:40",
        [
            "통계의 rollup과 live는 무슨 차이인가요?",
            "p95 지연 시간은 정확한 값인가요?",
            "통계 숫자가 기록 목록과 다르면 어떻게 하나요?",
        ],
    ),
    ("lee", 7, "13:20", ["스트리밍 답변은 어떻게 받나요?", "What are the SSE event names?"]),
    ("guest", 6, "19:30", ["대화 기록은 얼마나 보관되나요?"]),
    ("park", 6, "10:15", ["싫어요를 받은 답변만 모아 보려면?", "How do I follow one user's conversation?"]),
    (
        "lee",
        5,
        "17:10",
        ["How do I use a self-hosted vLLM server instead of OpenAI?", "OPENAI_TIMEOUT 기본값은 몇 초인가요?"],
    ),
    ("kim", 4, "16:25", ["실패한 질문만 CSV로 내보내려면 어떻게 하나요?", "엑셀에서 CSV를 열면 한글이 깨지나요?"]),
    ("guest", 3, "22:10", ["좋아요를 다시 누르면 어떻게 되나요?"]),
    ("park", 3, "15:55", ["session_id로 한 대화만 볼 수 있나요?", "검색어에 단어가 여러 개 있으면 어떻게 되나요?"]),
    ("lee", 2, "09:50", ["Why is my document still pending?", "How do I upload a jsonl file with several documents?"]),
    ("guest", 2, "20:05", ["How do I export logs as CSV?"]),
    ("kim", 1, "11:05", ["임베딩 모델을 바꾸면 색인을 다시 만들어야 하나요?"]),
    ("guest", 1, "20:40", ["local 제공자는 어떻게 답을 만드나요?"]),
    ("kim", 0, "09:30", ["기록 삭제는 누가 할 수 있나요?"]),
    ("lee", 0, "10:10", ["질문 길이 제한은 몇 자인가요?"]),
    (
        "park",
        0,
        "10:45",
        ["문서를 같은 내용으로 두 번 올리면 어떻게 되나요?", "per_day 날짜는 어느 시간대 기준인가요?"],
    ),
]

# Feedback end users left: question -> (rating, comment, tags).
FEEDBACK = {
    "로그를 검색할 때 조사가 붙은 단어도 찾아지나요?": (Rating.UP, "정확해요", ["helpful"]),
    "How do I create an API key for the chat frontend?": (Rating.UP, "", ["helpful"]),
    "실패한 질문만 CSV로 내보내려면 어떻게 하나요?": (Rating.UP, "예시 필터가 바로 쓸 만해요", []),
    "답변이 답을 찾지 못했다고 나와요": (Rating.DOWN, "원인만 나오고 해결 방법이 부족해요", ["불완전"]),
    "How can I load the exported logs into pandas?": (Rating.DOWN, "No code example.", ["불완전"]),
    "좋아요를 다시 누르면 어떻게 되나요?": (Rating.DOWN, "", ["출처없음"]),
}

# A question whose generation timed out after switching to a self-hosted
# server, recorded as the chat service records it.
FAILED = {
    "user_id": "lee",
    "session_id": "lee-4",
    "days_ago": 5,
    "time": "17:16",
    "question": "vLLM으로 바꾼 뒤에도 기록이 저장되나요?",
    "provider": "openai",
    "model": "Qwen/Qwen2.5-7B-Instruct",
    "error": llm.LLMTimeout(
        "The openai model 'Qwen/Qwen2.5-7B-Instruct' at http://gpu-01:8000/v1 did not answer within 60 seconds."
    ),
    "latency_ms": 60_041.7,
}

# A streamed answer whose reader closed the window half-way.
INTERRUPTED = {
    "user_id": "guest",
    "session_id": "guest-4",
    "days_ago": 3,
    "time": "22:13",
    "question": "스트리밍 중에 창을 닫으면 어떻게 되나요?",
}


def load_demo_data(stdout) -> None:
    if Document.objects.filter(source=DocumentSource.DEMO).exists():
        stdout.write("  " + _("Demo documents exist; the conversations demo is skipped."))
        return
    document_ids, created = _documents_load()
    chunks = documents.documents_index(document_ids=document_ids)
    stdout.write(
        "  "
        + _("%(created)d documents added from %(folder)s/, %(chunks)d chunks embedded and indexed.")
        % {"created": created, "folder": DATA_DIR.name, "chunks": chunks}
    )

    account = get_user_model().objects.filter(username=DEMO_USERNAME).first()
    # Answered offline whatever LLM_PROVIDER says: the demo must load without
    # a model server (or its bill). Retrieval uses the configured embeddings,
    # the ones the index is built with.
    with override_settings(LLM_PROVIDER="local"):
        asked = _conversations_ask(account)
        _failure_record(account)
        _interruption_record(account)
    rated = 0
    for log in asked:
        if log.question in FEEDBACK:
            rating, comment, tags = FEEDBACK[log.question]
            logs.log_feedback_set(log=log, rating=rating, comment=comment, tags=tags)
            rated += 1
    # The asked logs were counted on today's rollup rows before they were
    # dated back: recount every day from the logs.
    rollups_rebuild()
    users = ", ".join(sorted({user for user, *_rest in SESSIONS}))
    owner = _("account %(name)s") % {"name": account.username} if account else _("no account")
    stdout.write(
        "  "
        + _(
            "%(logs)d conversation logs over the last %(days)d days for %(users)s (%(owner)s): "
            "%(completed)d completed, 1 failed, 1 interrupted; %(rated)d rated."
        )
        % {
            "logs": len(asked) + 2,
            "days": DAYS,
            "users": users,
            "owner": owner,
            "completed": len(asked),
            "rated": rated,
        }
    )


def _documents_load() -> tuple[list[int], int]:
    """Store every file of demo_data/ through the upload services; returns
    (ids of the demo documents, how many were new)."""
    ids, created = [], 0
    for path in sorted(DATA_DIR.iterdir()):
        if path.suffix.lower() not in documents.FORMAT_BY_SUFFIX:
            continue
        parsed, rejected = documents.documents_parse(name=path.name, data=path.read_bytes())
        if rejected:
            raise ValueError(f"{path}: demo records rejected: {rejected}")
        for item in parsed:
            document, is_new = documents.document_create(
                title=_title(item),
                text_content=item.text,
                doc_format=item.format,
                source=DocumentSource.DEMO,
                index=False,
            )
            ids.append(document.pk)
            created += is_new
    return ids, created


def _title(item: documents.ParsedDocument) -> str:
    """The first line of a .md or .txt file (its heading) rather than the file name."""
    if item.format == DocumentFormat.JSONL:
        return item.title
    first = item.text.strip().splitlines()[0].lstrip("#").strip()
    return first if 0 < len(first) <= 80 else item.title


def _moment(days_ago: int, clock: str) -> dt.datetime:
    hour, minute = map(int, clock.split(":"))
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    when = timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))
    # A session "today" at a time still to come is moved to the last hours.
    return min(when, timezone.now() - dt.timedelta(hours=2))


def _conversations_ask(account) -> list[ConversationLog]:
    """Ask every question of SESSIONS through the RAG chat, then date each
    log as listed (rag_chat stamps the current time)."""
    asked, sessions_of = [], {}
    for user_id, days_ago, clock, questions in SESSIONS:
        sessions_of[user_id] = sessions_of.get(user_id, 0) + 1
        session_id = f"{user_id}-{sessions_of[user_id]}"
        start = _moment(days_ago, clock)
        for n, question in enumerate(questions):
            log = chat.rag_chat(account=account, question=question, user_id=user_id, session_id=session_id)
            when = start + dt.timedelta(minutes=2 * n, seconds=17 * n)
            ConversationLog.objects.filter(pk=log.pk).update(created_at=when, day=timezone.localdate(when))
            asked.append(log)
    return asked


def _failure_record(account) -> ConversationLog:
    turn = chat.chat_turn_start(
        account=account, question=FAILED["question"], user_id=FAILED["user_id"], session_id=FAILED["session_id"]
    )
    error = FAILED["error"]
    return logs.log_record(
        account=account,
        user_id=turn.user_id,
        session_id=turn.session_id,
        question=turn.question,
        answer="",
        status=LogStatus.FAILED,
        error=error.message,
        error_code=error.code,
        provider=FAILED["provider"],
        model=FAILED["model"],
        top_k=turn.top_k,
        sources=turn.sources(""),
        latency_ms=FAILED["latency_ms"] + turn.retrieval_ms,
        retrieval_ms=turn.retrieval_ms,
        created_at=_moment(FAILED["days_ago"], FAILED["time"]),
    )


def _interruption_record(account) -> ConversationLog:
    turn = chat.chat_turn_start(
        account=account,
        question=INTERRUPTED["question"],
        user_id=INTERRUPTED["user_id"],
        session_id=INTERRUPTED["session_id"],
    )
    words = llm.complete(turn.messages()).text.split(" ")
    partial = " ".join(words[: max(1, len(words) // 2)])
    return logs.log_record(
        account=account,
        user_id=turn.user_id,
        session_id=turn.session_id,
        question=turn.question,
        answer=partial,
        status=LogStatus.INTERRUPTED,
        provider=llm.provider_name(),
        model=llm.model_name(),
        streamed=True,
        top_k=turn.top_k,
        sources=turn.sources(partial),
        latency_ms=turn.elapsed_ms(),
        retrieval_ms=turn.retrieval_ms,
        created_at=_moment(INTERRUPTED["days_ago"], INTERRUPTED["time"]),
    )
