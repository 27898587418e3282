"""Conversation stats: counts per day and per user, top keywords, latency
percentiles, failure rate, feedback.

Three ways to the same figures, named by `source` in the response:

- "rollup": for someone who sees every log and filters only by whole dates
  and end user, they are summed from the daily and monthly rollups (a few
  hundred rows for a year, whatever the number of logs).
- "sample": with a search (`q`) they describe the newest SEARCH_SAMPLE
  matching logs, read through the search index newest first; `sample` says
  how many logs that was and whether it was every match.
- "live": any other filter (status, session, a time of day, or a caller
  limited to their own logs) is aggregated by the database over the
  matching logs.
"""

import datetime as dt
from collections import Counter

from django.db.models import Count, Q, Sum
from django.utils import timezone

from .choices import LogStatus
from .models import (
    ConversationLog,
    DailyKeyword,
    DailyStat,
    DailyUserKeyword,
    DailyUserStat,
    MonthlyKeyword,
    MonthlyUserStat,
)
from .rollups import histogram_merge, histogram_percentile
from .search import MATCH_ID

TOP = 10
# Live keyword counts read the keywords of at most this many matching logs
# (the most recent); the response says how many were read.
KEYWORD_SAMPLE = 20_000
LATENCY_SAMPLE = 200_000
# Stats of a search describe at most this many of its newest matches.
SEARCH_SAMPLE = 5_000
ROLLUP_FILTERS = {"date_from", "date_to", "user_id"}


def _feedback(up: int, down: int) -> dict:
    rated = up + down
    return {"up": up, "down": down, "ratio": round(up / rated, 4) if rated else None}


def _summary(per_day: list[dict], per_user, keywords, latency: dict, up: int, down: int, source: str, **extra):
    total = sum(day["count"] for day in per_day)
    failed = sum(day["failed"] for day in per_day)
    return {
        "source": source,
        "total": total,
        "failed": failed,
        "failure_rate": round(failed / total, 4) if total else None,
        "per_day": per_day,
        "per_user": [{"user_id": user_id, "count": count} for user_id, count in per_user],
        "top_keywords": [{"term": term, "count": count} for term, count in keywords],
        "latency_ms": latency,
        "feedback": _feedback(up, down),
        **extra,
    }


def _ranking(counter: Counter, top: int) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:top]


def _exact_latency(latencies: list[float]) -> dict:
    """Percentiles and mean of the latencies (sorted in place)."""
    latencies.sort()
    latency = {"p50": None, "p95": None, "mean": None, "method": "exact", "sampled": len(latencies)}
    if latencies:
        latency.update(
            p50=round(latencies[int(0.50 * (len(latencies) - 1))], 1),
            p95=round(latencies[int(0.95 * (len(latencies) - 1))], 1),
            mean=round(sum(latencies) / len(latencies), 1),
        )
    return latency


def _day_range(queryset, filters: dict):
    if filters.get("date_from"):
        queryset = queryset.filter(day__gte=filters["date_from"].date)
    if filters.get("date_to"):
        queryset = queryset.filter(day__lte=filters["date_to"].date)
    return queryset


def _month_after(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _ranked(daily, monthly, field: str, filters: dict, top: int) -> list[tuple[str, int]]:
    """Top `field` values by count over the date range: whole months from the
    monthly rollup, the partial months at either end from the daily one."""
    first = filters["date_from"].date if "date_from" in filters else None
    last = filters["date_to"].date if "date_to" in filters else None
    months_from = None if first is None else (first if first.day == 1 else _month_after(first))
    months_until = (
        None
        if last is None
        else (_month_after(last) if _month_after(last) - last == dt.timedelta(1) else last.replace(day=1))
    )
    totals: Counter = Counter()
    if months_from and months_until and months_from >= months_until:
        edges = Q(day__gte=first, day__lte=last)
        whole = None
    else:
        edges = Q(pk__in=[])
        if first is not None and first < months_from:
            edges |= Q(day__gte=first, day__lt=months_from)
        if last is not None and months_until <= last:
            edges |= Q(day__gte=months_until, day__lte=last)
        whole = Q()
        if months_from:
            whole &= Q(month__gte=months_from)
        if months_until:
            whole &= Q(month__lt=months_until)
    groups = [daily.objects.filter(edges)]
    if whole is not None:
        groups.append(monthly.objects.filter(whole))
    for queryset in groups:
        totals.update(dict(queryset.values(field).annotate(total=Sum("count")).values_list(field, "total")))
    return sorted(((name, total) for name, total in totals.items() if total > 0), key=lambda item: (-item[1], item[0]))[
        :top
    ]


def rollups_apply(filters: dict, *, sees_all: bool) -> bool:
    """Whether the rollups can answer these (validated, non-empty) filters."""
    if not sees_all or set(filters) - ROLLUP_FILTERS:
        return False
    return all(filters[name].is_date for name in ("date_from", "date_to") if name in filters)


def stats_from_rollups(filters: dict, *, top: int = TOP) -> dict:
    user_id = filters.get("user_id")
    histogram: Counter = Counter()
    if user_id:
        rows = _day_range(DailyUserStat.objects.filter(user_id=user_id), filters).order_by("day")
        per_day, up, down, latency_sum = [], 0, 0, 0.0
        fields = ("day", "count", "failed", "latency_ms_sum", "latency_histogram", "rating_up", "rating_down")
        for row in rows.values(*fields):
            per_day.append({"date": row["day"], "count": row["count"], "failed": row["failed"]})
            histogram_merge(histogram, row["latency_histogram"])
            latency_sum += row["latency_ms_sum"]
            up, down = up + row["rating_up"], down + row["rating_down"]
        total = sum(day["count"] for day in per_day)
        per_user = [(user_id, total)] if per_day else []
        keywords = (
            _day_range(DailyUserKeyword.objects.filter(user_id=user_id), filters)
            .values("term")
            .annotate(total=Sum("count"))
            .filter(total__gt=0)
            .order_by("-total", "term")
            .values_list("term", "total")[:top]
        )
        mean = round(latency_sum / total, 1) if total else None
    else:
        days: dict = {}
        up = down = 0
        latency_sum = 0.0
        rows = _day_range(DailyStat.objects.all(), filters).order_by("day")
        for row in rows.values(
            "day", "status", "count", "latency_ms_sum", "latency_histogram", "rating_up", "rating_down"
        ):
            day = days.setdefault(row["day"], {"date": row["day"], "count": 0, "failed": 0})
            day["count"] += row["count"]
            day["failed"] += row["count"] if row["status"] == LogStatus.FAILED else 0
            histogram_merge(histogram, row["latency_histogram"])
            latency_sum += row["latency_ms_sum"]
            up, down = up + row["rating_up"], down + row["rating_down"]
        per_day = list(days.values())
        total = sum(day["count"] for day in per_day)
        mean = round(latency_sum / total, 1) if total else None
        per_user = _ranked(DailyUserStat, MonthlyUserStat, "user_id", filters, top)
        keywords = _ranked(DailyKeyword, MonthlyKeyword, "term", filters, top)
    latency = {
        "p50": histogram_percentile(histogram, 0.50),
        "p95": histogram_percentile(histogram, 0.95),
        "mean": mean,
        "method": "histogram",
    }
    return per_day, list(per_user), list(keywords), latency, up, down


def stats_live(queryset, *, top: int = TOP):
    """The same figures aggregated over a filtered log queryset."""
    queryset = queryset.order_by()
    failed = Q(status=LogStatus.FAILED)
    per_day = [
        {"date": row["day"], "count": row["count"], "failed": row["failed"]}
        for row in queryset.values("day").annotate(count=Count("id"), failed=Count("id", filter=failed)).order_by("day")
    ]
    per_user = list(
        queryset.values("user_id")
        .annotate(total=Count("id"))
        .order_by("-total", "user_id")
        .values_list("user_id", "total")[:top]
    )
    ratings = queryset.aggregate(up=Count("id", filter=Q(rating=1)), down=Count("id", filter=Q(rating=-1)))
    latency = _exact_latency(
        list(queryset.order_by("-created_at").values_list("latency_ms", flat=True)[:LATENCY_SAMPLE])
    )
    top_keywords, sampled = keywords_live(queryset, top=top)
    return per_day, per_user, top_keywords, latency, ratings["up"], ratings["down"], sampled


def keywords_live(queryset, *, top: int = TOP) -> tuple[list[tuple[str, int]], int]:
    """Top keywords of the most recent KEYWORD_SAMPLE matching logs, and how
    many logs were read."""
    counter: Counter = Counter()
    sampled = 0
    for terms in queryset.order_by("-created_at").values_list("keywords", flat=True)[:KEYWORD_SAMPLE]:
        counter.update(set(terms.split()))
        sampled += 1
    return _ranking(counter, top), sampled


def stats_sample(queryset, *, top: int = TOP) -> tuple:
    """The same figures over the newest SEARCH_SAMPLE logs of a search
    queryset (annotated by conversations.search), and what was sampled."""
    fields = ("day", "user_id", "status", "latency_ms", "rating", "keywords", MATCH_ID)
    rows = list(queryset.order_by(f"-{MATCH_ID}").values_list(*fields)[:SEARCH_SAMPLE])
    days: dict = {}
    users: Counter = Counter()
    keywords: Counter = Counter()
    latencies = []
    up = down = 0
    for day, user_id, status, latency, rating, terms, _log_id in rows:
        entry = days.setdefault(day, {"date": day, "count": 0, "failed": 0})
        entry["count"] += 1
        entry["failed"] += status == LogStatus.FAILED
        users[user_id] += 1
        keywords.update(set(terms.split()))
        latencies.append(latency)
        up, down = up + (rating == 1), down + (rating == -1)
    latency = _exact_latency(latencies)
    sample = {
        "logs": len(rows),
        "limit": SEARCH_SAMPLE,
        "complete": len(rows) < SEARCH_SAMPLE,
        "oldest": _created_at(rows[-1][-1]) if rows else None,
    }
    per_day = sorted(days.values(), key=lambda entry: entry["date"])
    return per_day, _ranking(users, top), _ranking(keywords, top), latency, up, down, sample


def _created_at(log_id: int):
    # One row's time, read apart: parsing 5,000 datetimes for the oldest one
    # cost more than this lookup.
    return timezone.localtime(ConversationLog.objects.values_list("created_at", flat=True).get(pk=log_id))


def log_stats(*, queryset, filters: dict, sees_all: bool, top: int = TOP) -> dict:
    """Stats of the logs matching `filters` (the FilterSet's cleaned data,
    empty values removed); `queryset` is those logs, already filtered."""
    if rollups_apply(filters, sees_all=sees_all):
        return _summary(*stats_from_rollups(filters, top=top), "rollup")
    if "q" in filters:
        *figures, sample = stats_sample(queryset, top=top)
        return _summary(*figures, "sample", sample=sample)
    per_day, per_user, keywords, latency, up, down, sampled = stats_live(queryset, top=top)
    return _summary(per_day, per_user, keywords, latency, up, down, "live", keywords_sampled_logs=sampled)
