import pytest

from conversations.services.documents import document_create, documents_index
from conversations.services.logs import log_record


@pytest.fixture(autouse=True)
def _isolated_ai(settings, tmp_path):
    # Each test gets its own vector index folder, the offline provider and
    # tasks run in-process (indexing after an upload).
    settings.VECTOR_INDEX_DIR = tmp_path / "vectors"
    settings.LLM_PROVIDER = "local"
    settings.EMBEDDINGS_PROVIDER = "use"
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}}


KNOWLEDGE = {
    "저장 안내": "대화 기록은 매일 데이터베이스에 저장됩니다. 관리자는 저장된 로그를 검색할 수 있습니다.",
    "Export guide": "Logs can be exported as CSV or JSON Lines. The export streams rows in batches.",
    "피드백": "답변마다 좋아요와 싫어요로 평가할 수 있습니다. 평가는 통계의 피드백 비율에 반영됩니다.",
}


@pytest.fixture
def knowledge_base(db):
    """Three small indexed documents (real embeddings, real FAISS index)."""
    docs = [document_create(title=t, text_content=body, index=False)[0] for t, body in KNOWLEDGE.items()]
    documents_index()
    return docs


@pytest.fixture
def make_log(db):
    def make(**overrides):
        values = {
            "account": None,
            "user_id": "kim",
            "question": "로그를 어디에 저장하나요?",
            "answer": "데이터베이스에 저장됩니다 [1].",
            "status": "completed",
            "latency_ms": 20.0,
            "provider": "local",
            "model": "extractive-v1",
        }
        values.update(overrides)
        return log_record(**values)

    return make
