from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import ActivationRequest, Algorithm, ExampleSource, Tokenizer, Trigger, VersionStatus


class TrainingExample(models.Model):
    """One labelled text a classifier learns from."""

    text = models.TextField(_("text"))
    label = models.CharField(_("label"), max_length=64, db_index=True)
    source = models.CharField(_("source"), max_length=16, choices=ExampleSource.choices, default=ExampleSource.UPLOAD)
    # Lineage: the conversation log an example was made from, when it was.
    conversation_log = models.OneToOneField(
        "conversations.ConversationLog",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="training_example",
        verbose_name=_("conversation log"),
    )
    # The same text with the same label is stored once (uploads repeat rows,
    # and a duplicate would leak between the training and held-out sets).
    text_sha256 = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("training example")
        verbose_name_plural = _("training examples")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["text_sha256", "label"], name="modeltrainer_example_text_label")]
        indexes = [models.Index(fields=["source", "label"], name="modeltrainer_example_src_lbl")]

    def __str__(self) -> str:
        return f"[{self.label}] {self.text[:60]}"


class ModelVersion(models.Model):
    """A trained (or training, or failed) classifier, with what it was
    trained on, how it scored on held-out examples, and its model file."""

    number = models.PositiveIntegerField(_("version"), unique=True)
    status = models.CharField(
        _("status"), max_length=16, choices=VersionStatus.choices, default=VersionStatus.QUEUED, db_index=True
    )
    # True on the active version and NULL elsewhere: a unique column allows
    # one True and any number of NULLs on every database, so "one active
    # version" and "one training at a time" hold even between racing requests.
    active = models.BooleanField(_("active"), null=True, unique=True, default=None, editable=False)
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
    algorithm = models.CharField(_("algorithm"), max_length=32, choices=Algorithm.choices)
    tokenizer = models.CharField(_("tokenizer"), max_length=16, choices=Tokenizer.choices)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    labels = models.JSONField(_("labels"), default=list, blank=True)
    example_count = models.PositiveIntegerField(_("example count"), default=0)
    train_count = models.PositiveIntegerField(_("examples trained on"), default=0)
    test_count = models.PositiveIntegerField(_("examples held out"), default=0)
    data_fingerprint = models.CharField(_("data fingerprint"), max_length=64, blank=True)
    example_id_min = models.BigIntegerField(_("first example id"), null=True, blank=True)
    example_id_max = models.BigIntegerField(_("last example id"), null=True, blank=True)
    artifact = models.CharField(_("model file"), max_length=255, blank=True)
    artifact_sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    artifact_size = models.BigIntegerField(_("file size"), null=True, blank=True)
    trigger = models.CharField(_("started from"), max_length=16, choices=Trigger.choices, default=Trigger.API)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("started by"),
    )
    progress = models.PositiveSmallIntegerField(_("progress"), default=0)
    stage = models.CharField(_("stage"), max_length=64, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration_s = models.FloatField(_("duration (s)"), null=True, blank=True)
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True)

    class Meta:
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"v{self.number} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return bool(self.active)
