"""The synthetic conversation logs of the conversations benchmark, and their bulk load.

Imported after django.setup(). A few thousand distinct (question, answer)
pairs (bench.conversations_text) are analysed once each with the app's own
`log_analyse`; the million logs reuse those derived columns, so the load
costs what inserting costs, not a million Kiwi analyses.
"""

import datetime as dt
import random
import time
import zoneinfo
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from bench import conversations_text as bank
from conversations.choices import LogStatus
from conversations.models import ConversationLog
from conversations.rollups import rollups_rebuild
from conversations.search import log_terms_write
from conversations.services.logs import log_analyse

SEED = 20261122
USERS = 500
DAYS = 365
# The logs cover the DAYS local days before this one.
END_DAY = dt.date(2026, 11, 22)
FIRST_DAY = END_DAY - dt.timedelta(days=DAYS)
POOL_SIZE = 3000
USER_EXPONENT = 1.0  # user-001 asks about 15 % of the questions, user-500 about 0.03 %
POOL_EXPONENT = 0.8
FAILED_SHARE = 0.02
INTERRUPTED_SHARE = 0.005
RATED_SHARE = 0.10
CHUNK_ROWS = 20_000
# Hours of the day (local), relative weights: office hours are busiest.
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 10, 8, 10, 10, 10, 9, 8, 6, 5, 4, 3, 2, 1]


def user_label(rank: int) -> str:
    return f"user-{rank:03d}"


@dataclass
class PoolEntry:
    lang: str
    question: str
    answer: str
    # (search_terms, keywords) for a completed answer, a failed one (no answer) and an interrupted one.
    derived: dict[str, tuple[str, str]]
    sources: list[dict]


def _sources(rng: random.Random, entry: dict) -> list[dict]:
    sentences = entry["answer"].split(" [")
    out = []
    for marker in range(1, rng.randint(2, 4) + 1):
        excerpt = " ".join(rng.choice(sentences).split("]")[-1].strip(". ") for _ in range(6))
        out.append(
            {
                "marker": marker,
                "chunk_id": rng.randint(1, 10_000),
                "document_id": rng.randint(1, 1300),
                "title": f"{entry['question'][:20]} 안내",
                "score": round(rng.uniform(0.2, 0.8), 4),
                "excerpt": excerpt[:300],
                "cited": f"[{marker}]" in entry["answer"],
            }
        )
    return out


def build_pool() -> tuple[list[PoolEntry], float]:
    """The analysed pool and the seconds the analysis took."""
    rng = random.Random(SEED)
    started = time.perf_counter()
    pool = []
    for entry in bank.conversation_pool(POOL_SIZE, seed=SEED):
        partial = entry["answer"].split("]", 1)[0] + "]"
        derived = {
            LogStatus.COMPLETED: log_analyse(question=entry["question"], answer=entry["answer"]),
            LogStatus.FAILED: log_analyse(question=entry["question"], answer=""),
            LogStatus.INTERRUPTED: log_analyse(question=entry["question"], answer=partial),
        }
        pool.append(PoolEntry(entry["lang"], entry["question"], entry["answer"], derived, _sources(rng, entry)))
    return pool, time.perf_counter() - started


def _zipf(count: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, count + 1) ** exponent
    return weights / weights.sum()


@dataclass
class Draws:
    """The random columns of `n` logs, in created_at order."""

    created_at: list[dt.datetime]
    day: list[dt.date]
    user: np.ndarray
    entry: np.ndarray
    status: np.ndarray  # 0 completed, 1 failed, 2 interrupted
    streamed: np.ndarray
    latency: np.ndarray
    retrieval: np.ndarray
    prompt_tokens: np.ndarray
    completion_tokens: np.ndarray
    rating: np.ndarray  # 0 none, 1, -1
    session: np.ndarray
    openai: np.ndarray


def draw(n: int) -> Draws:
    rng = np.random.default_rng(SEED)
    days = np.arange(DAYS)
    # Usage grows through the year; weekends are quieter.
    weekday = np.array([(FIRST_DAY + dt.timedelta(days=int(d))).weekday() for d in days])
    day_weights = (0.6 + 0.8 * days / (DAYS - 1)) * np.where(weekday >= 5, 0.55, 1.0)
    day = rng.choice(DAYS, size=n, p=day_weights / day_weights.sum())
    hour_weights = np.array(HOUR_WEIGHTS, dtype=float)
    hour = rng.choice(24, size=n, p=hour_weights / hour_weights.sum())
    seconds = day * 86400.0 + hour * 3600.0 + rng.random(n) * 3600.0
    order = np.argsort(seconds, kind="stable")
    day, seconds = day[order], seconds[order]

    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    midnights = [
        dt.datetime.combine(FIRST_DAY + dt.timedelta(days=d), dt.time.min, tzinfo=zone).astimezone(dt.UTC)
        for d in range(DAYS)
    ]
    local_days = [FIRST_DAY + dt.timedelta(days=d) for d in range(DAYS)]
    offsets = (seconds - day * 86400.0).round(6)
    created_at = [
        midnights[d] + dt.timedelta(seconds=float(s)) for d, s in zip(day.tolist(), offsets.tolist(), strict=True)
    ]

    status_draw = rng.random(n)
    status = np.where(status_draw < FAILED_SHARE, 1, np.where(status_draw < FAILED_SHARE + INTERRUPTED_SHARE, 2, 0))
    latency = rng.lognormal(np.log(1800), 0.6, n)
    timed_out = (status == 1) & (rng.random(n) < 0.5)
    latency = np.where(status == 1, np.where(timed_out, 60000 + rng.random(n) * 500, latency / 6), latency)
    latency = np.where(status == 2, latency / 2, latency).round(2)
    rated = (status == 0) & (rng.random(n) < RATED_SHARE)
    rating = np.where(rated, np.where(rng.random(n) < 0.78, 1, -1), 0)
    return Draws(
        created_at=created_at,
        day=[local_days[d] for d in day.tolist()],
        user=rng.choice(USERS, size=n, p=_zipf(USERS, USER_EXPONENT)) + 1,
        entry=rng.choice(POOL_SIZE, size=n, p=_zipf(POOL_SIZE, POOL_EXPONENT)),
        status=status,
        streamed=(rng.random(n) < 0.3) | (status == 2),
        latency=latency,
        retrieval=rng.lognormal(np.log(25), 0.4, n).round(2),
        prompt_tokens=rng.integers(250, 1200, n),
        completion_tokens=rng.integers(20, 400, n),
        rating=rating,
        session=rng.integers(0, 3, n),
        openai=rng.random(n) < 0.25,
    )


_STATUS = [LogStatus.COMPLETED, LogStatus.FAILED, LogStatus.INTERRUPTED]


def _log(i: int, d: Draws, pool: list[PoolEntry], rng: random.Random) -> ConversationLog:
    entry = pool[d.entry[i]]
    status = _STATUS[d.status[i]]
    search_terms, keywords = entry.derived[status]
    created_at = d.created_at[i]
    user_id = user_label(int(d.user[i]))
    failed = status == LogStatus.FAILED
    answer = "" if failed else entry.answer if status == LogStatus.COMPLETED else entry.answer.split("]", 1)[0] + "]"
    error_code, error = rng.choice(bank.ERRORS) if failed else ("", "")
    rating = int(d.rating[i]) or None
    openai = bool(d.openai[i])
    return ConversationLog(
        user_id=user_id,
        session_id=f"{user_id}-{d.day[i]:%Y%m%d}-{d.session[i]}",
        question=entry.question,
        answer=answer,
        status=status,
        error=error,
        error_code=error_code,
        provider="openai" if openai else "local",
        model="gpt-4o-mini" if openai else "extractive-v1",
        streamed=bool(d.streamed[i]),
        top_k=4,
        sources=entry.sources,
        latency_ms=float(d.latency[i]),
        retrieval_ms=float(d.retrieval[i]),
        prompt_tokens=None if failed else int(d.prompt_tokens[i]),
        completion_tokens=None if failed else int(d.completion_tokens[i]),
        rating=rating,
        feedback_comment=rng.choice(bank.FEEDBACK_COMMENTS) if rating else "",
        feedback_tags=rng.choice(bank.FEEDBACK_TAGS) if rating else [],
        feedback_at=created_at + dt.timedelta(minutes=rng.randint(1, 600)) if rating else None,
        search_terms=search_terms,
        keywords=keywords,
        created_at=created_at,
        day=d.day[i],
    )


@dataclass
class LoadReport:
    rows: int
    analyse_s: float
    draw_s: float
    insert_s: float
    rollups_s: float

    @property
    def total_s(self) -> float:
        return self.analyse_s + self.draw_s + self.insert_s + self.rollups_s


def logs_load(n: int, pool: list[PoolEntry], analyse_s: float, *, progress=print) -> LoadReport:
    """Insert `n` logs with bulk_create (oldest first, so ids follow time), then rebuild the rollups."""
    started = time.perf_counter()
    draws = draw(n)
    draw_s = time.perf_counter() - started
    rng = random.Random(SEED)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # Only for the load: a crash would mean reloading anyway.
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-262144")
    try:
        for start in range(0, n, CHUNK_ROWS):
            rows = [_log(i, draws, pool, rng) for i in range(start, min(n, start + CHUNK_ROWS))]
            with transaction.atomic():
                ConversationLog.objects.bulk_create(rows, batch_size=2000)
                log_terms_write(rows)
            done = start + len(rows)
            if done % (CHUNK_ROWS * 10) == 0 or done == n:
                rate = done / (time.perf_counter() - started)
                progress(f"  inserted {done:,} logs ({rate:,.0f}/s)")
    finally:
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA synchronous=NORMAL")
    insert_s = time.perf_counter() - started
    started = time.perf_counter()
    rollups_rebuild()
    rollups_s = time.perf_counter() - started
    return LoadReport(n, analyse_s, draw_s, insert_s, rollups_s)
