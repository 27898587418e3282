from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import ActivationRequest, Algorithm, ExampleSource, Tokenizer, Trigger, VersionStatus


class TrainingExample(models.Model):
    """One labelled text a classifier learns from."""

    text = models.TextField("텍스트")
    label = models.CharField("레이블", max_length=64, db_index=True)
    source = models.CharField("출처", max_length=16, choices=ExampleSource.choices, default=ExampleSource.UPLOAD)
    # Lineage: the conversation log an example was made from, when it was.
    conversation_log = models.OneToOneField(
        "conversations.ConversationLog",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="training_example",
        verbose_name="대화 기록",
    )
    # The same text with the same label is stored once (uploads repeat rows,
    # and a duplicate would leak between the training and held-out sets).
    text_sha256 = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField("생성", default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "학습 예제"
        verbose_name_plural = "학습 예제"
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["text_sha256", "label"], name="modeltrainer_example_text_label")]
        indexes = [models.Index(fields=["source", "label"], name="modeltrainer_example_src_lbl")]

    def __str__(self) -> str:
        return f"[{self.label}] {self.text[:60]}"


class ModelVersion(models.Model):
    """A trained (or training, or failed) classifier, with what it was
    trained on, how it scored on held-out examples, and its model file."""

    number = models.PositiveIntegerField("버전", unique=True)
    status = models.CharField(
        "상태", max_length=16, choices=VersionStatus.choices, default=VersionStatus.QUEUED, db_index=True
    )
    # True on the active version and NULL elsewhere: a unique column allows
    # one True and any number of NULLs on every database, so "one active
    # version" and "one training at a time" hold even between racing requests.
    active = models.BooleanField("활성", null=True, unique=True, default=None, editable=False)
    in_flight = models.BooleanField(null=True, unique=True, default=None, editable=False)
    # What the training asked for (activate if not worse, always, never) and
    # what was decided when it finished: {"requested", "result", "code",
    # and the figures compared}. The reason a person reads is rendered from
    # the code in their language (selectors.activation_view).
    activation_requested = models.CharField(
        _("activation requested"),
        max_length=16,
        choices=ActivationRequest.choices,
        default=ActivationRequest.IF_BETTER,
    )
    activation = models.JSONField(_("activation decision"), default=dict, blank=True, editable=False)
    algorithm = models.CharField("알고리즘", max_length=32, choices=Algorithm.choices)
    tokenizer = models.CharField("토큰화", max_length=16, choices=Tokenizer.choices)
    params = models.JSONField("파라미터", default=dict, blank=True)
    metrics = models.JSONField("지표", default=dict, blank=True)
    labels = models.JSONField("레이블", default=list, blank=True)
    example_count = models.PositiveIntegerField("예제 수", default=0)
    train_count = models.PositiveIntegerField("학습 예제 수", default=0)
    test_count = models.PositiveIntegerField("평가 예제 수", default=0)
    data_fingerprint = models.CharField("데이터 지문", max_length=64, blank=True)
    example_id_min = models.BigIntegerField(null=True, blank=True)
    example_id_max = models.BigIntegerField(null=True, blank=True)
    artifact = models.CharField("모델 파일", max_length=255, blank=True)
    artifact_sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    artifact_size = models.BigIntegerField("파일 크기", null=True, blank=True)
    trigger = models.CharField("시작 경로", max_length=16, choices=Trigger.choices, default=Trigger.API)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="시작한 사용자",
    )
    progress = models.PositiveSmallIntegerField("진행률", default=0)
    stage = models.CharField("단계", max_length=64, blank=True)
    error = models.TextField("오류", blank=True)
    created_at = models.DateTimeField("요청", default=timezone.now)
    started_at = models.DateTimeField("시작", null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField("종료", null=True, blank=True)
    duration_s = models.FloatField("소요 (초)", null=True, blank=True)
    activated_at = models.DateTimeField("활성화", null=True, blank=True)

    class Meta:
        verbose_name = "모델 버전"
        verbose_name_plural = "모델 버전"
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"v{self.number} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return bool(self.active)
