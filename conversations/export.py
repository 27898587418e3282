"""Export of filtered logs as CSV or JSON Lines, in constant memory.

Rows are read in keyset-paginated batches (newest first) rather than with
one big cursor: mysqlclient's default cursor would hold a whole result set in
memory.
"""

import csv
import io
import json
from collections.abc import Iterator

from django.db.models import Q
from django.utils import timezone

from aiplatform.streaming import streaming_response

from .search import MATCH_ID

# The CSV header and the JSON keys are these field names, in English whatever
# the language of the request: an export is read by programs (pandas, scripts,
# spreadsheets joined on a column), which need column names that do not change
# with the reader's language. Only the values are the stored text.
EXPORT_FIELDS = (
    "id",
    "created_at",
    "user_id",
    "session_id",
    "status",
    "question",
    "answer",
    "error",
    "provider",
    "model",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "rating",
    "feedback_comment",
    "feedback_tags",
    "sources",
)
BATCH = 2000


def logs_export_rows(queryset, *, batch: int = BATCH) -> Iterator[dict]:
    """The logs as dicts, newest first, read in keyset batches. A search
    (annotated by conversations.search) is read in its index order."""
    if MATCH_ID in queryset.query.annotations:
        queryset = queryset.order_by(f"-{MATCH_ID}").values(*EXPORT_FIELDS, MATCH_ID)

        def after(row):
            return Q(**{f"{MATCH_ID}__lt": row[MATCH_ID]})
    else:
        queryset = queryset.order_by("-created_at", "-id").values(*EXPORT_FIELDS)

        def after(row):
            return Q(created_at__lt=row["created_at"]) | Q(created_at=row["created_at"], id__lt=row["id"])

    last = None
    while True:
        page = queryset if last is None else queryset.filter(after(last))
        rows = list(page[:batch])
        if rows:
            last = dict(rows[-1])
        for row in rows:
            row.pop(MATCH_ID, None)
            row["created_at"] = timezone.localtime(row["created_at"]).isoformat()
            yield row
        if len(rows) < batch:
            return


def _compact(value) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value


def logs_export_csv(queryset) -> Iterator[str]:
    """CSV with a header row; starts with a byte-order mark so spreadsheet
    programs read the Korean text as UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    yield "\ufeff" + buffer.getvalue()
    for row in logs_export_rows(queryset):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_compact(row[name]) if row[name] is not None else "" for name in EXPORT_FIELDS])
        yield buffer.getvalue()


def logs_export_jsonl(queryset) -> Iterator[str]:
    for row in logs_export_rows(queryset):
        yield json.dumps(row, ensure_ascii=False) + "\n"


_FORMATS = {
    "csv": (logs_export_csv, "text/csv; charset=utf-8"),
    "jsonl": (logs_export_jsonl, "application/x-ndjson; charset=utf-8"),
}


def logs_export_response(request, queryset, file_format: str):
    """A streamed download of these logs as "csv" or "jsonl"."""
    lines, content_type = _FORMATS[file_format]
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    disposition = f'attachment; filename="conversation-logs-{stamp}.{file_format}"'
    return streaming_response(request, lines(queryset), content_type=content_type, Content_Disposition=disposition)
