"""Training examples: parsing uploads, validating rows, storing them once."""

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from aiplatform.errors import InvalidInput

from ..choices import ExampleSource
from ..models import TrainingExample

LABEL_MAX_CHARS = 64
INSERT_BATCH = 2000
_FORMATS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


@dataclass
class RowProblem:
    row: int
    field: str
    reason: str


@dataclass
class ImportReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[RowProblem] = field(default_factory=list)

    def as_dict(self, *, max_problems: int = 200) -> dict:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected_count": len(self.rejected),
            "rejected": [vars(problem) for problem in self.rejected[:max_problems]],
        }


def text_digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def upload_format(name: str) -> str:
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in _FORMATS:
        raise InvalidInput(
            _("Unsupported file type %(suffix)r: send .json, .jsonl or .csv.") % {"suffix": suffix or name},
            field="file",
            code="unsupported_type",
        )
    return _FORMATS[suffix]


def examples_parse(*, data: bytes, file_format: str) -> list[tuple[int, object]]:
    """(row number, raw row) of an uploaded file; a file that cannot be read
    as its format is a 400 naming `file`."""
    if len(data) > settings.MODEL_UPLOAD_MAX_BYTES:
        raise InvalidInput(
            _("The file is larger than %(n)d bytes.") % {"n": settings.MODEL_UPLOAD_MAX_BYTES},
            field="file",
            code="too_large",
        )
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(_("The file is not UTF-8 text."), field="file", code="not_text") from None
    if file_format == "json":
        try:
            rows = json.loads(content)
        except json.JSONDecodeError as exc:
            raise InvalidInput(_("Not valid JSON: %(e)s") % {"e": exc}, field="file", code="parse_error") from None
        if not isinstance(rows, list):
            raise InvalidInput(_("A .json file must hold a list of {text, label} objects."), field="file")
        return list(enumerate(rows, start=1))
    if file_format == "jsonl":
        rows = []
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError:
                rows.append((number, None))
        return rows
    reader = csv.DictReader(io.StringIO(content))
    if not reader.fieldnames or not {"text", "label"} <= {name.strip() for name in reader.fieldnames}:
        raise InvalidInput(_("The CSV header must name the columns text and label."), field="file", code="parse_error")
    # Row 1 is the header.
    return [(number, {k.strip(): v for k, v in row.items() if k}) for number, row in enumerate(reader, start=2)]


def _row_problem(number: int, row) -> tuple[str, str] | RowProblem:
    if not isinstance(row, dict):
        return RowProblem(number, "row", _("Not a JSON object with text and label."))
    value, label = row.get("text"), row.get("label")
    if not isinstance(value, str) or not value.strip():
        return RowProblem(number, "text", _("The text is missing or empty."))
    if len(value) > settings.MODEL_TEXT_MAX_CHARS:
        return RowProblem(
            number, "text", _("The text is longer than %(n)d characters.") % {"n": settings.MODEL_TEXT_MAX_CHARS}
        )
    if isinstance(label, int | float) and not isinstance(label, bool):
        label = str(label)
    if not isinstance(label, str) or not label.strip():
        return RowProblem(number, "label", _("The label is missing or empty."))
    if len(label.strip()) > LABEL_MAX_CHARS:
        return RowProblem(number, "label", _("The label is longer than %(n)d characters.") % {"n": LABEL_MAX_CHARS})
    return value.strip(), label.strip()


def examples_add(*, rows: list[tuple[int, object]], source: str, created_by=None) -> ImportReport:
    """Validate and store rows; each problem names its row and field. A text
    already stored with the same label is counted as a duplicate, not
    stored again."""
    report = ImportReport()
    valid: list[tuple[int, str, str]] = []
    for number, row in rows:
        checked = _row_problem(number, row)
        if isinstance(checked, RowProblem):
            report.rejected.append(checked)
        else:
            valid.append((number, *checked))
    user = created_by if getattr(created_by, "pk", None) else None
    for start in range(0, len(valid), INSERT_BATCH):
        batch = valid[start : start + INSERT_BATCH]
        stored = _store(
            [
                TrainingExample(text=value, label=label, source=source, text_sha256=text_digest(value), created_by=user)
                for _number, value, label in batch
            ]
        )
        report.accepted += stored
        report.duplicates += len(batch) - stored
    return report


def _store(candidates: list[TrainingExample]) -> int:
    """Insert the examples whose (text, label) is not stored yet, nor
    repeated earlier in the list; returns how many were inserted."""
    unique: dict[tuple[str, str], TrainingExample] = {}
    for example in candidates:
        unique.setdefault((example.text_sha256, example.label), example)
    existing = set(
        TrainingExample.objects.filter(text_sha256__in={digest for digest, _label in unique}).values_list(
            "text_sha256", "label"
        )
    )
    new = [example for key, example in unique.items() if key not in existing]
    with transaction.atomic():
        # ignore_conflicts: a concurrent upload of the same rows is not an
        # error (those rows are then counted here but stored once).
        TrainingExample.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def example_create(*, text: str, label: str, source: str = ExampleSource.ADMIN, created_by=None) -> TrainingExample:
    checked = _row_problem(1, {"text": text, "label": label})
    if isinstance(checked, RowProblem):
        raise InvalidInput(checked.reason, field=checked.field)
    value, label = checked
    digest = text_digest(value)
    example, created = TrainingExample.objects.get_or_create(
        text_sha256=digest,
        label=label,
        defaults={
            "text": value,
            "source": source,
            "created_by": created_by if getattr(created_by, "pk", None) else None,
        },
    )
    if not created:
        raise InvalidInput(
            _("This text is already stored with this label (example %(id)d).") % {"id": example.pk},
            field="text",
            code="duplicate",
        )
    return example


def examples_import_conversations(
    *,
    logs,
    text_field: str,
    label_up: str,
    label_down: str,
    created_by=None,
) -> ImportReport:
    """Examples from rated conversation logs (rows of id, question, answer,
    rating): +1 becomes `label_up`, -1 `label_down`. A log already imported
    is skipped (counted as a duplicate), so an import can be repeated."""
    report = ImportReport()
    user = created_by if getattr(created_by, "pk", None) else None
    for label in (label_up, label_down):
        if not label.strip() or len(label) > LABEL_MAX_CHARS:
            raise InvalidInput(
                _("Labels must be 1 to %(n)d characters.") % {"n": LABEL_MAX_CHARS},
                field="label_up" if label is label_up else "label_down",
            )
    batch: list[tuple] = []

    def flush():
        ids = [row[0] for row in batch]
        done = set(
            TrainingExample.objects.filter(conversation_log_id__in=ids).values_list("conversation_log_id", flat=True)
        )
        new = []
        for log_id, question, answer, rating in batch:
            if log_id in done:
                report.duplicates += 1
                continue
            value = {"question": question, "answer": answer}.get(text_field) or f"{question}\n{answer}"
            value = value.strip()[: settings.MODEL_TEXT_MAX_CHARS]
            if not value:
                report.rejected.append(RowProblem(log_id, "text", _("The log has no text.")))
                continue
            label = label_up if rating == 1 else label_down
            new.append(
                TrainingExample(
                    text=value,
                    label=label,
                    source=ExampleSource.CONVERSATION,
                    conversation_log_id=log_id,
                    text_sha256=text_digest(value),
                    created_by=user,
                )
            )
        stored = _store(new)
        report.accepted += stored
        report.duplicates += len(new) - stored
        batch.clear()

    for row in logs:
        batch.append(row)
        if len(batch) >= INSERT_BATCH:
            flush()
    if batch:
        flush()
    return report
