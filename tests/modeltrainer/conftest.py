"""Model files in a temporary directory per test, a fresh process cache of
the active model, and small labelled data sets."""

import pytest
from django.utils import timezone

from modeltrainer.choices import Algorithm, ExampleSource, Tokenizer, VersionStatus
from modeltrainer.models import ModelVersion
from modeltrainer.predictor import active_model
from modeltrainer.services import examples, training

# Short texts of three labels, Korean and English, that a classifier can
# learn from a few dozen examples.
SEED_ROWS = {
    "error": [
        "결제 서버에서 예외가 발생해 요청이 실패했습니다",
        "주문 DB 연결 실패로 작업이 중단되었습니다",
        "인증 서비스 오류로 로그인이 실패합니다",
        "배치 작업이 오류로 비정상 종료되었습니다",
        "payment request failed with an exception",
        "the job failed with a connection error",
        "search service crashed with an error",
        "로그 수집기 오류로 수집 실패",
    ],
    "performance": [
        "검색 API 응답 시간이 느립니다",
        "처리량이 떨어지고 지연 시간이 늘었습니다",
        "캐시 적중률이 낮아 쿼리가 느려졌습니다",
        "CPU 사용률이 높아 응답이 느립니다",
        "latency p95 is slow under peak traffic",
        "throughput dropped and responses are slow",
        "slow query latency on the orders database",
        "페이지 로딩 지연 시간이 깁니다",
    ],
    "security": [
        "관리자 계정에 로그인 시도가 반복되어 잠겼습니다",
        "허용되지 않은 IP의 접근이 차단되었습니다",
        "API 키 유출이 의심되어 폐기했습니다",
        "권한 없는 사용자의 접근 시도",
        "blocked access from an unknown address",
        "api key leaked and revoked",
        "repeated login attempts locked the account",
        "방화벽이 의심스러운 접근을 차단했습니다",
    ],
}


@pytest.fixture(autouse=True)
def model_storage(settings, tmp_path):
    settings.MODEL_STORAGE_DIR = tmp_path / "models"
    settings.MODEL_MIN_EXAMPLES = 10
    active_model.forget()
    yield settings.MODEL_STORAGE_DIR
    active_model.forget()


@pytest.fixture
def seed_examples(db):
    rows = [(n, {"text": text, "label": label}) for n, (label, texts) in enumerate(SEED_ROWS.items()) for text in texts]
    return examples.examples_add(rows=list(enumerate([row for _, row in rows], start=1)), source=ExampleSource.UPLOAD)


@pytest.fixture
def trained_version(seed_examples):
    """A ready, active version trained here and now (no task worker)."""

    def train(**kwargs):
        version, _created = training.model_version_train(enqueue=False, **kwargs)
        return training.model_version_run(version_id=version.pk)

    return train


def failed_version(number: int) -> ModelVersion:
    """A version whose training failed, as the trainer records one."""
    return ModelVersion.objects.create(
        number=number,
        status=VersionStatus.FAILED,
        algorithm=Algorithm.LOGISTIC_REGRESSION,
        tokenizer=Tokenizer.MORPHEME,
        error="RuntimeError: disk full",
        stage="failed",
        finished_at=timezone.now(),
    )
