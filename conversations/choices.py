from django.db import models


class LogStatus(models.TextChoices):
    COMPLETED = "completed", "완료"
    FAILED = "failed", "실패"
    # A streamed answer whose client went away before the end: the part that
    # was generated is kept.
    INTERRUPTED = "interrupted", "중단"


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "색인 대기"
    INDEXED = "indexed", "색인 완료"
    FAILED = "failed", "실패"


class DocumentSource(models.TextChoices):
    UPLOAD = "upload", "업로드"
    COMMAND = "command", "관리 명령"
    DEMO = "demo", "데모"


class DocumentFormat(models.TextChoices):
    TEXT = "text", "텍스트"
    MARKDOWN = "markdown", "마크다운"
    JSONL = "jsonl", "JSONL"


class Rating(models.IntegerChoices):
    UP = 1, "좋아요"
    DOWN = -1, "싫어요"
