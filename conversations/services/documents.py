"""The knowledge base: documents in, chunks embedded and indexed."""

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from aiplatform import embeddings, text, vectors
from aiplatform.errors import InvalidInput

from ..choices import DocumentFormat, DocumentSource, DocumentStatus
from ..models import VECTOR_COLLECTION, Document, DocumentChunk

logger = logging.getLogger(__name__)

FORMAT_BY_SUFFIX = {".txt": DocumentFormat.TEXT, ".md": DocumentFormat.MARKDOWN, ".jsonl": DocumentFormat.JSONL}
TITLE_MAX_CHARS = 255


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    text: str
    format: str


@dataclass(frozen=True)
class RejectedRecord:
    line: int
    reason: str


def documents_parse(*, name: str, data: bytes) -> tuple[list[ParsedDocument], list[RejectedRecord]]:
    """Documents in an uploaded file: .txt or .md is one document; .jsonl has
    one `{"text": ..., "title"?: ...}` per line. Refuses other types, files
    over RAG_DOCUMENT_MAX_BYTES and text that is not UTF-8."""
    suffix = PurePath(name).suffix.lower()
    doc_format = FORMAT_BY_SUFFIX.get(suffix)
    if doc_format is None:
        raise InvalidInput(
            _("Unsupported file type %(suffix)r; use .txt, .md or .jsonl.") % {"suffix": suffix or name},
            field="file",
            code="unsupported_type",
        )
    limit = settings.RAG_DOCUMENT_MAX_BYTES
    if len(data) > limit:
        raise InvalidInput(_("File is larger than %(n)d bytes.") % {"n": limit}, field="file", code="too_large")
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(_("File is not UTF-8 text."), field="file", code="not_text") from None
    if "\x00" in content:
        raise InvalidInput(_("File is not a text file."), field="file", code="not_text")
    stem = PurePath(name).stem[:TITLE_MAX_CHARS] or name
    if doc_format != DocumentFormat.JSONL:
        if not content.strip():
            raise InvalidInput(_("File is empty."), field="file", code="empty")
        return [ParsedDocument(title=stem, text=content, format=doc_format)], []
    parsed, rejected = [], []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            rejected.append(RejectedRecord(number, _("Not JSON: %(error)s") % {"error": exc.msg}))
            continue
        body = record.get("text") if isinstance(record, dict) else None
        if not isinstance(body, str) or not body.strip():
            rejected.append(RejectedRecord(number, _('"text" must be a non-empty string.')))
            continue
        title = record.get("title")
        title = title.strip()[:TITLE_MAX_CHARS] if isinstance(title, str) and title.strip() else f"{stem}:{number}"
        parsed.append(ParsedDocument(title=title, text=body, format=DocumentFormat.JSONL))
    if not parsed and not rejected:
        raise InvalidInput(_("File is empty."), field="file", code="empty")
    return parsed, rejected


def document_create(
    *,
    title: str,
    text_content: str,
    doc_format: str = DocumentFormat.TEXT,
    source: str = DocumentSource.UPLOAD,
    created_by=None,
    index: bool = True,
) -> tuple[Document, bool]:
    """Store a document and its chunks; returns (document, created). The same
    text is stored once. With index=True the chunks are embedded and indexed
    by a task after the transaction commits."""
    title = (title or "").strip()[:TITLE_MAX_CHARS]
    body = (text_content or "").strip()
    if not title:
        raise InvalidInput(_("Title is required."), field="title")
    if not body:
        raise InvalidInput(_("Text is empty."), field="text")
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    existing = Document.objects.filter(sha256=digest).first()
    if existing is not None:
        return existing, False
    pieces = text.chunk_text(body, max_chars=settings.RAG_CHUNK_CHARS)
    with transaction.atomic():
        document = Document.objects.create(
            title=title,
            source=source,
            format=doc_format,
            text=body,
            sha256=digest,
            size_bytes=len(body.encode("utf-8")),
            chunk_count=len(pieces),
            created_by=created_by if getattr(created_by, "pk", None) else None,
        )
        DocumentChunk.objects.bulk_create(
            DocumentChunk(document=document, position=i, text=piece) for i, piece in enumerate(pieces)
        )
        if index:
            from ..tasks import index_documents

            transaction.on_commit(lambda: index_documents.enqueue(document_ids=[document.pk]))
    return document, True


def documents_index(
    *, document_ids: list[int] | None = None, batch_size: int = 256, progress: Callable[[int], None] | None = None
) -> int:
    """Embed the chunks that have no embedding from the current model and add
    them to the vector index; returns the number of chunks indexed."""
    model = embeddings.model_name()
    pending = DocumentChunk.objects.exclude(embedding_model=model)
    if document_ids is not None:
        pending = pending.filter(document_id__in=document_ids)
    ids = list(pending.order_by("pk").values_list("pk", flat=True))
    index = vectors.get_index(VECTOR_COLLECTION)
    done = 0
    touched: set[int] = set()
    try:
        for start in range(0, len(ids), batch_size):
            rows = list(DocumentChunk.objects.filter(pk__in=ids[start : start + batch_size]).order_by("pk"))
            matrix = embeddings.embed([row.text for row in rows])
            for row, vector in zip(rows, matrix, strict=True):
                row.embedding = vector.astype(np.float32).tobytes()
                row.embedding_model = model
                touched.add(row.document_id)
            DocumentChunk.objects.bulk_update(rows, ["embedding", "embedding_model"])
            index.add(np.array([row.pk for row in rows], dtype=np.int64), matrix)
            done += len(rows)
            if progress:
                progress(len(rows))
    except Exception as exc:
        logger.exception("indexing documents failed")
        failed = document_ids if document_ids is not None else list(touched)
        Document.objects.filter(pk__in=failed).update(status=DocumentStatus.FAILED, error=str(exc)[:2000])
        raise
    # A document is indexed once every one of its chunks is embedded by the
    # current model.
    scope = Document.objects.filter(status__in=[DocumentStatus.PENDING, DocumentStatus.FAILED])
    if document_ids is not None:
        scope = scope.filter(pk__in=document_ids)
    scope.exclude(pk__in=DocumentChunk.objects.exclude(embedding_model=model).values("document_id")).update(
        status=DocumentStatus.INDEXED, error="", indexed_at=timezone.now()
    )
    return done


def vector_index_rebuild(*, progress: Callable[[int], None] | None = None) -> int:
    """Rebuild the knowledge-base index from the stored embeddings (embedding
    first whatever another model embedded); returns the number of vectors."""
    documents_index(progress=progress)
    model = embeddings.model_name()
    rows = DocumentChunk.objects.filter(embedding_model=model).order_by("pk").values_list("pk", "embedding")
    ids, parts = [], []
    for pk, blob in rows.iterator(chunk_size=2000):
        ids.append(pk)
        parts.append(np.frombuffer(bytes(blob), dtype=np.float32))
    matrix = np.vstack(parts) if parts else np.zeros((0, embeddings.dimension()), dtype=np.float32)
    vectors.get_index(VECTOR_COLLECTION).rebuild(np.array(ids, dtype=np.int64), matrix)
    return len(ids)


def document_delete(*, document: Document) -> None:
    """Delete a document, its chunks and their vectors."""
    chunk_ids = list(document.chunks.values_list("pk", flat=True))
    with transaction.atomic():
        document.delete()
    if chunk_ids:
        vectors.get_index(VECTOR_COLLECTION).remove(np.array(chunk_ids, dtype=np.int64))
