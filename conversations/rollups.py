"""Daily rollups of the conversation logs.

Stats over a million logs must not scan them on every request, so every write
of a log (and every feedback change or deletion) adjusts a few small rows in
the same transaction, with one upsert per table: per day and status, per day
and end user, per day and keyword, per day, end user and keyword, and per
month. `rollups_rebuild` recomputes them from the logs for repair and bulk
loads.

Latency percentiles come from a histogram with buckets 20 % wide, so a
percentile read from the rollups is within about 10 % of the exact value.
"""

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from functools import lru_cache

from django.db import connection, transaction
from django.db.models import F

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


def _rating_fields(rating: int | None) -> tuple[int, int]:
    return (1 if rating == 1 else 0, 1 if rating == -1 else 0)


def rollup_log(log: ConversationLog, *, sign: int = 1) -> None:
    """Count a log in (sign=1) or out of (sign=-1) the rollups, one statement
    per rollup table. Must run in the transaction that writes or deletes the
    log."""
    up, down = _rating_fields(log.rating)
    month = log.day.replace(day=1)
    terms = sorted(set(log.keywords.split()))
    bucket = latency_bucket(log.latency_ms)
    # Tables in a fixed order and rows sorted by key within a statement: every
    # writer, deletions included, locks rows in the same order, so two of them
    # cannot deadlock.
    _upsert(
        DailyStat,
        sign,
        [{"day": log.day, "status": log.status}],
        {
            "count": 1,
            "latency_ms_sum": log.latency_ms,
            "prompt_tokens": log.prompt_tokens or 0,
            "completion_tokens": log.completion_tokens or 0,
            "rating_up": up,
            "rating_down": down,
        },
        bucket=bucket,
    )
    _upsert(
        DailyUserStat,
        sign,
        [{"day": log.day, "user_id": log.user_id}],
        {
            "count": 1,
            "failed": int(log.status == LogStatus.FAILED),
            "latency_ms_sum": log.latency_ms,
            "rating_up": up,
            "rating_down": down,
        },
        bucket=bucket,
    )
    _upsert(MonthlyUserStat, sign, [{"month": month, "user_id": log.user_id}], {"count": 1})
    _upsert(DailyKeyword, sign, [{"day": log.day, "term": term} for term in terms], {"count": 1})
    _upsert(MonthlyKeyword, sign, [{"month": month, "term": term} for term in terms], {"count": 1})
    keys = [{"user_id": log.user_id, "day": log.day, "term": term} for term in terms]
    _upsert(DailyUserKeyword, sign, keys, {"count": 1})


def _upsert(model, sign: int, keys: list[dict], amounts: dict, *, bucket: int | None = None) -> None:
    """Add sign * amount to each column of `amounts`, and sign to `bucket` of
    the latency histogram when given, on each row with one of these keys (the
    fields of the model's unique constraint), creating missing rows: one
    statement.

    Django's bulk_create(update_conflicts=True) can only overwrite columns,
    not add to them, hence the SQL. A deletion (sign -1) is the same upsert,
    so that it locks rows in the same order as a write; its rows exist, since
    the log was counted in them, and would otherwise start at zero. (On
    MariaDB an upsert that updates still draws an id, so the
    64-bit ids of rollup rows skip values.)
    """
    if not keys:
        return
    deltas = [sign * amount for amount in amounts.values()]
    start = [max(delta, 0) for delta in deltas]
    if bucket is not None:
        start.append({str(bucket): 1} if sign > 0 else {})
    sql, fields = _upsert_sql(connection.vendor, model, tuple(keys[0]), tuple(amounts), len(keys), bucket is not None)
    params = [
        field.get_db_prep_value(value, connection)
        for key in keys
        for field, value in zip(fields, [*key.values(), *start], strict=True)
    ]
    params += deltas
    if bucket is not None:
        path = _HISTOGRAM_SQL[connection.vendor][3].format(bucket=bucket)
        params += [path, sign, path, path, sign, path]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@lru_cache(maxsize=256)
def _upsert_sql(vendor: str, model, key_names: tuple, amount_names: tuple, rows: int, with_bucket: bool):
    """The statement of `_upsert` and the fields of one row's values, built
    once per shape: a chat request runs six of them."""
    meta = model._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    names = [*key_names, *amount_names, *(["latency_histogram"] if with_bucket else [])]
    fields = tuple(meta.get_field(name) for name in names)
    updates = []
    for name in amount_names:
        column = quote(meta.get_field(name).column)
        updates.append(f"{column} = {table}.{column} + %s")
    if with_bucket:
        column = quote(meta.get_field("latency_histogram").column)
        updates.append(f"{column} = {_histogram_add_sql(vendor, f'{table}.{column}')}")
    if vendor == "mysql":
        conflict = "ON DUPLICATE KEY UPDATE"
    else:
        (constraint,) = meta.total_unique_constraints
        target = ", ".join(quote(meta.get_field(name).column) for name in constraint.fields)
        conflict = f"ON CONFLICT ({target}) DO UPDATE SET"
    columns = ", ".join(quote(field.column) for field in fields)
    values = ", ".join([f"({', '.join(['%s'] * len(fields))})"] * rows)
    # Names come from the model, quoted; every value is a parameter.
    return f"INSERT INTO {table} ({columns}) VALUES {values} {conflict} {', '.join(updates)}", fields  # noqa: S608


# The latency histogram is a JSON object on the row it belongs to, so it is
# updated in the same statement as the counters, by a JSON expression on the
# row's current value. An upsert that finds its row locks it and evaluates
# the SET on the latest committed version (SQLite runs one writer at a time),
# so, as with `count = count + 1`, no concurrent write is lost. Per database:
# the bucket's count or NULL, the object with a count set, the object without
# the bucket, and the bucket's JSON path. Parameters stand for the path.
_HISTOGRAM_SQL = {
    "sqlite": ("json_extract({h}, %s)", "json_set({h}, %s, {count})", "json_remove({h}, %s)", '$."{bucket}"'),
    "mysql": (
        "CAST(JSON_EXTRACT({h}, %s) AS SIGNED)",
        "JSON_SET({h}, %s, {count})",
        "JSON_REMOVE({h}, %s)",
        '$."{bucket}"',
    ),
}


def _histogram_add_sql(vendor: str, column: str) -> str:
    """SQL for the histogram in `column` with a delta added to one bucket;
    its parameters are (path, delta, path, path, delta, path). A bucket that
    drops to zero is removed, as rollups_rebuild would not write it."""
    if vendor not in _HISTOGRAM_SQL:
        raise NotImplementedError(f"Conversation rollups do not support {vendor} databases.")
    get, put, remove, _path = _HISTOGRAM_SQL[vendor]
    count = f"COALESCE({get.format(h=column)}, 0) + %s"
    return f"CASE WHEN {count} > 0 THEN {put.format(h=column, count=count)} ELSE {remove.format(h=column)} END"


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
    user_keywords: Counter = Counter()
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
            user_keywords[user_id, day, term] += 1
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
        for model in (DailyStat, DailyUserStat, DailyKeyword, DailyUserKeyword, MonthlyUserStat, MonthlyKeyword):
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
        DailyUserKeyword.objects.bulk_create(
            (
                DailyUserKeyword(user_id=user_id, day=day, term=term, count=count)
                for (user_id, day, term), count in user_keywords.items()
            ),
            batch_size=5000,
        )
    return seen
