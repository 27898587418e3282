"""The knowledge base: upload, parsing, chunking, indexing, deletion."""

import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from aiplatform import vectors
from conversations.models import VECTOR_COLLECTION, Document, DocumentChunk
from conversations.selectors import chunks_retrieve

URL = "/api/conversation/documents/"


def _upload(client, name: str, content: bytes):
    file = io.BytesIO(content)
    file.name = name
    return client.post(URL, {"file": file}, format="multipart")


def test_markdown_upload_is_chunked_embedded_and_retrievable(owner_client, django_capture_on_commit_callbacks):
    text = (
        "# 백업 안내\n\n백업은 매일 새벽 세 시에 실행됩니다. 보관 기간은 삼십 일입니다.\n\n"
        "복원은 관리자만 할 수 있습니다."
    )

    with django_capture_on_commit_callbacks(execute=True):  # the indexing task runs after commit
        response = _upload(owner_client, "backup.md", text.encode())

    assert response.status_code == 201, response.content
    created = response.json()["created"][0]
    assert created["title"] == "backup" and created["format"] == "markdown"
    document = Document.objects.get(pk=created["id"])
    assert document.status == "indexed" and document.chunk_count == document.chunks.count() >= 1
    hits = chunks_retrieve(question="백업은 언제 실행되나요?", top_k=1)
    assert hits[0].document_id == document.pk


def test_same_text_is_stored_once(owner_client):
    _upload(owner_client, "a.txt", "같은 내용의 문서입니다.".encode())

    response = _upload(owner_client, "b.txt", "같은 내용의 문서입니다.".encode())

    assert response.status_code == 200
    assert response.json()["created"] == [] and len(response.json()["existing"]) == 1
    assert Document.objects.count() == 1


def test_jsonl_upload_reports_rejected_lines(owner_client):
    lines = [
        json.dumps({"title": "FAQ 1", "text": "API 키는 한 번만 표시됩니다."}, ensure_ascii=False),
        "{not json",
        json.dumps({"title": "no text"}),
        json.dumps({"text": "Second record without a title."}),
    ]

    response = _upload(owner_client, "faq.jsonl", "\n".join(lines).encode())

    body = response.json()
    assert response.status_code == 201
    assert [doc["title"] for doc in body["created"]] == ["FAQ 1", "faq:4"]
    assert [r["line"] for r in body["rejected"]] == [2, 3]


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("slides.pdf", b"%PDF-1.7", "unsupported_type"),
        ("x.txt", b"\xff\xfe\x00bad", "not_text"),
        ("empty.md", b"  \n", "empty"),
    ],
)
def test_bad_uploads_are_400_naming_the_file(owner_client, name, content, code):
    response = _upload(owner_client, name, content)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code and "file" in response.json()["error"]["fields"]


def test_oversize_upload_is_refused(owner_client, settings):
    settings.RAG_DOCUMENT_MAX_BYTES = 100

    response = _upload(owner_client, "big.txt", b"a" * 101)

    assert response.status_code == 400 and response.json()["error"]["code"] == "too_large"


def test_json_title_and_text(owner_client):
    response = owner_client.post(URL, {"title": "메모", "text": "짧은 메모입니다."}, format="json")
    assert response.status_code == 201
    missing = owner_client.post(URL, {"text": "제목 없는 메모"}, format="json")
    assert missing.status_code == 400 and "title" in missing.json()["error"]["fields"]


def test_only_staff_delete_and_vectors_go_with_the_document(owner_client, staff_client, knowledge_base):
    document = knowledge_base[0]
    chunk_ids = list(document.chunks.values_list("pk", flat=True))

    assert owner_client.delete(f"{URL}{document.pk}/").status_code == 403
    assert staff_client.delete(f"{URL}{document.pk}/").status_code == 204

    assert not DocumentChunk.objects.filter(pk__in=chunk_ids).exists()
    index = vectors.get_index(VECTOR_COLLECTION)
    found = {chunk_id for hit in index.search(np.eye(1, 512, dtype=np.float32), 50) for chunk_id, _ in hit}
    assert not found & set(chunk_ids)


def test_reindex_rebuilds_from_stored_embeddings(staff_client, owner_client, knowledge_base, settings, tmp_path):
    settings.VECTOR_INDEX_DIR = tmp_path / "fresh"  # as if the index files were lost

    assert owner_client.post(f"{URL}reindex/").status_code == 403
    response = staff_client.post(f"{URL}reindex/")

    assert response.status_code == 202
    assert response.json()["task"] == "rebuild_vector_index" and response.json()["status"] == "SUCCESSFUL"
    assert vectors.get_index(VECTOR_COLLECTION).info()["count"] == DocumentChunk.objects.count()
    assert chunks_retrieve(question="CSV export", top_k=1)[0].title == "Export guide"


def test_reindex_answers_the_task_id_to_poll(staff_client, db, settings):
    # The durable backend, as deployed: its results can be read back.
    settings.TASKS = {"default": settings.TASK_BACKENDS_AVAILABLE["db"]}

    queued = staff_client.post(f"{URL}reindex/").json()
    polled = staff_client.get(f"/api/system/tasks/{queued['task_id']}/").json()

    assert "id" not in queued
    assert (polled["task_id"], polled["task"], polled["status"]) == (queued["task_id"], "rebuild_vector_index", "READY")


def test_ingest_documents_command(tmp_path, db):
    folder = tmp_path / "kb"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("모니터링 경보는 다섯 단계입니다.", encoding="utf-8")
    (folder / "sub" / "b.txt").write_text("Backups are checked with SHA-256.", encoding="utf-8")
    (folder / "ignored.pdf").write_bytes(b"%PDF")
    out, err = io.StringIO(), io.StringIO()

    call_command("ingest_documents", str(folder), stdout=out, stderr=err)

    assert "2 documents added" in out.getvalue()
    assert Document.objects.filter(status="indexed", source="command").count() == 2
    call_command("ingest_documents", str(folder), stdout=out, stderr=err)
    assert "0 documents added, 2 already present" in out.getvalue()


def test_ingest_documents_speaks_the_language_it_runs_in(tmp_path, db):
    (tmp_path / "a.md").write_text("모니터링 경보는 다섯 단계입니다.", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"title": "빈 줄"}\n', encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()

    with translation.override("ko"):
        call_command("ingest_documents", str(tmp_path), "--no-index", stdout=out, stderr=err)
        with pytest.raises(CommandError, match="없습니다"):
            call_command("ingest_documents", str(tmp_path / "missing"))

    assert "문서 1개 추가, 0개는 이미 있음, 1개 거부." in out.getvalue()
    assert '"text"는 비어 있지 않은 문자열이어야 합니다.' in err.getvalue()
