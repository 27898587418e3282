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
    queryset = queryset.order_by("-created_at", "-id").values(*EXPORT_FIELDS)
    last = None
    while True:
        page = queryset
        if last is not None:
            page = page.filter(Q(created_at__lt=last[0]) | Q(created_at=last[0], id__lt=last[1]))
        rows = list(page[:batch])
        if rows:
            last = (rows[-1]["created_at"], rows[-1]["id"])
        for row in rows:
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
