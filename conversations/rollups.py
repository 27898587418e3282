"""Daily rollups of the conversation logs.

Stats over a million logs must not scan them on every request, so every write
of a log (and every feedback change or deletion) adjusts a few small rows in
the same transaction: per day and status, per day and end user, per day and
keyword. `rollups_rebuild` recomputes them from the logs for repair and bulk
loads.

Latency percentiles come from a histogram with buckets 20 % wide, so a
percentile read from the rollups is within about 10 % of the exact value.
"""

import math
from collections import Counter, defaultdict
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.db.models import F

from .choices import LogStatus
from .models import ConversationLog, DailyKeyword, DailyStat, DailyUserStat, MonthlyKeyword, MonthlyUserStat

_BUCKET_GROWTH = 1.2


def latency_bucket(latency_ms: float) -> int:
    if latency_ms < 1:
        return 0
    return int(math.log(latency_ms) / math.log(_BUCKET_GROWTH)) + 1


def bucket_value(bucket: int) -> float:
    """The geometric middle of a bucket, in milliseconds."""
    if bucket <= 0:
        return 0.5
    return _BUCKET_GROWTH ** (bucket - 0.5)


def histogram_merge(target: Counter, histogram: dict) -> None:
    for bucket, count in histogram.items():
        target[int(bucket)] += count


def histogram_percentile(histogram: Counter, fraction: float) -> float | None:
    total = sum(histogram.values())
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return round(bucket_value(bucket), 1)
    return round(bucket_value(max(histogram)), 1)


def _locked_row(model, **key):
    row = model.objects.select_for_update().filter(**key).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return model.objects.create(**key)
    except IntegrityError:
        # Another transaction created it first; wait for its lock.
        return model.objects.select_for_update().get(**key)


def _histogram_add(histogram: dict, latency_ms: float, sign: int) -> dict:
    bucket = str(latency_bucket(latency_ms))
    histogram[bucket] = histogram.get(bucket, 0) + sign
    if histogram[bucket] <= 0:
        del histogram[bucket]
    return histogram


def _rating_fields(rating: int | None) -> tuple[int, int]:
    return (1 if rating == 1 else 0, 1 if rating == -1 else 0)


def rollup_log(log: ConversationLog, *, sign: int = 1) -> None:
    """Count a log in (sign=1) or out of (sign=-1) the rollups. Must run in
    the transaction that writes or deletes the log."""
    up, down = _rating_fields(log.rating)
    # Rows are always locked in the same order (stat, user stat, keywords in
    # sorted order) so concurrent writers cannot deadlock.
    stat = _locked_row(DailyStat, day=log.day, status=log.status)
    stat.count += sign
    stat.latency_ms_sum += sign * log.latency_ms
    _histogram_add(stat.latency_histogram, log.latency_ms, sign)
    stat.prompt_tokens += sign * (log.prompt_tokens or 0)
    stat.completion_tokens += sign * (log.completion_tokens or 0)
    stat.rating_up += sign * up
    stat.rating_down += sign * down
    stat.save()

    user_stat = _locked_row(DailyUserStat, day=log.day, user_id=log.user_id)
    user_stat.count += sign
    user_stat.failed += sign * (log.status == LogStatus.FAILED)
    user_stat.latency_ms_sum += sign * log.latency_ms
    _histogram_add(user_stat.latency_histogram, log.latency_ms, sign)
    user_stat.rating_up += sign * up
    user_stat.rating_down += sign * down
    user_stat.save()

    month = log.day.replace(day=1)
    _counter_add(MonthlyUserStat, sign, month=month, user_id=log.user_id)
    for term in sorted(set(log.keywords.split())):
        _counter_add(DailyKeyword, sign, day=log.day, term=term)
        _counter_add(MonthlyKeyword, sign, month=month, term=term)


def _counter_add(model, sign: int, **key) -> None:
    """count += sign on the row with this key, creating it when needed."""
    if model.objects.filter(**key).update(count=F("count") + sign) or sign < 0:
        return
    try:
        with transaction.atomic():
            model.objects.create(**key, count=sign)
    except IntegrityError:
        model.objects.filter(**key).update(count=F("count") + sign)


def rollup_rating_change(log: ConversationLog, *, old_rating: int | None) -> None:
    """Move a log's feedback between the up/down counters."""
    old_up, old_down = _rating_fields(old_rating)
    new_up, new_down = _rating_fields(log.rating)
    if (old_up, old_down) == (new_up, new_down):
        return
    changes = {"rating_up": F("rating_up") + new_up - old_up, "rating_down": F("rating_down") + new_down - old_down}
    DailyStat.objects.filter(day=log.day, status=log.status).update(**changes)
    DailyUserStat.objects.filter(day=log.day, user_id=log.user_id).update(**changes)


def rollups_rebuild(*, batch_size: int = 5000, progress: Callable[[int], None] | None = None) -> int:
    """Recompute every rollup from the logs; returns the number of logs read.

    Runs in one transaction so readers see either the old or the new rollups.
    """
    stats: dict = defaultdict(lambda: {"count": 0, "lat": 0.0, "hist": Counter(), "pt": 0, "ct": 0, "up": 0, "down": 0})
    users: dict = defaultdict(lambda: {"count": 0, "failed": 0, "lat": 0.0, "hist": Counter(), "up": 0, "down": 0})
    keywords: Counter = Counter()
    fields = ("day", "status", "user_id", "latency_ms", "prompt_tokens", "completion_tokens", "rating", "keywords")
    seen = 0
    rows = ConversationLog.objects.order_by().values_list(*fields)
    for day, status, user_id, latency, pt, ct, rating, terms in rows.iterator(chunk_size=batch_size):
        up, down = _rating_fields(rating)
        bucket = latency_bucket(latency)
        s = stats[day, status]
        s["count"] += 1
        s["lat"] += latency
        s["hist"][bucket] += 1
        s["pt"] += pt or 0
        s["ct"] += ct or 0
        s["up"] += up
        s["down"] += down
        u = users[day, user_id]
        u["count"] += 1
        u["failed"] += status == LogStatus.FAILED
        u["lat"] += latency
        u["hist"][bucket] += 1
        u["up"] += up
        u["down"] += down
        for term in set(terms.split()):
            keywords[day, term] += 1
        seen += 1
        if progress and seen % batch_size == 0:
            progress(batch_size)
    if progress:
        progress(seen % batch_size)

    def histogram(counter: Counter) -> dict:
        return {str(bucket): count for bucket, count in counter.items()}

    monthly_users: Counter = Counter()
    for (day, user_id), u in users.items():
        monthly_users[day.replace(day=1), user_id] += u["count"]
    monthly_keywords: Counter = Counter()
    for (day, term), count in keywords.items():
        monthly_keywords[day.replace(day=1), term] += count

    with transaction.atomic():
        for model in (DailyStat, DailyUserStat, DailyKeyword, MonthlyUserStat, MonthlyKeyword):
            model.objects.all().delete()
        MonthlyUserStat.objects.bulk_create(
            (MonthlyUserStat(month=m, user_id=u, count=c) for (m, u), c in monthly_users.items()), batch_size=5000
        )
        MonthlyKeyword.objects.bulk_create(
            (MonthlyKeyword(month=m, term=t, count=c) for (m, t), c in monthly_keywords.items()), batch_size=5000
        )
        DailyStat.objects.bulk_create(
            (
                DailyStat(
                    day=day,
                    status=status,
                    count=s["count"],
                    latency_ms_sum=s["lat"],
                    latency_histogram=histogram(s["hist"]),
                    prompt_tokens=s["pt"],
                    completion_tokens=s["ct"],
                    rating_up=s["up"],
                    rating_down=s["down"],
                )
                for (day, status), s in stats.items()
            ),
            batch_size=1000,
        )
        DailyUserStat.objects.bulk_create(
            (
                DailyUserStat(
                    day=day,
                    user_id=user_id,
                    count=u["count"],
                    failed=u["failed"],
                    latency_ms_sum=u["lat"],
                    latency_histogram=histogram(u["hist"]),
                    rating_up=u["up"],
                    rating_down=u["down"],
                )
                for (day, user_id), u in users.items()
            ),
            batch_size=1000,
        )
        DailyKeyword.objects.bulk_create(
            (DailyKeyword(day=day, term=term, count=count) for (day, term), count in keywords.items()),
            batch_size=5000,
        )
    return seen
