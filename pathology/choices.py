from django.db import models


class RequestStatus(models.TextChoices):
    PENDING = "pending", "대기"
    PROCESSING = "processing", "처리 중"
    COMPLETED = "completed", "완료"
    FAILED = "failed", "실패"
    CANCELLED = "cancelled", "취소"


# States a request never leaves.
FINISHED = (RequestStatus.COMPLETED, RequestStatus.FAILED, RequestStatus.CANCELLED)
