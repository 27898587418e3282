import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import RequestStatus

# How a request names its slide and case, as the requester gave them.
SLIDE_REFERENCE_FIELDS = ("orthanc_instance_id", "orthanc_series_id", "slide_file", "study_id", "patient_id")


def heatmap_path(instance, filename: str) -> str:
    # The name is ours, never the uploader's: no path from a request reaches the disk.
    return f"pathology/heatmaps/{instance.pk}.png"


class InferenceWorker(models.Model):
    """A machine that runs the analysis, known by its API key (scope `worker`)."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    api_key = models.OneToOneField(
        "aiplatform.PlatformAPIKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inference_worker",
        verbose_name=_("API key"),
    )
    host = models.CharField(_("host"), max_length=128, blank=True)
    device = models.CharField(_("device"), max_length=64, blank=True)
    version = models.CharField(_("version"), max_length=64, blank=True)
    last_seen = models.DateTimeField(_("last seen"), null=True, blank=True)
    current_request = models.ForeignKey(
        "PathologyRequest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("current request"),
    )
    created_at = models.DateTimeField(_("registered"), default=timezone.now)

    class Meta:
        verbose_name = _("inference worker")
        verbose_name_plural = _("inference workers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PathologyRequest(models.Model):
    """One slide to analyse, from its request to its result."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The slide: an Orthanc instance and/or series, and/or a file name the
    # worker looks up in its slide directory.
    orthanc_instance_id = models.CharField(_("Orthanc instance"), max_length=64, blank=True)
    orthanc_series_id = models.CharField(_("Orthanc series"), max_length=64, blank=True)
    slide_file = models.CharField(_("slide file"), max_length=255, blank=True)
    # The slide was uploaded to this server: `slide_file` is then its name in
    # the server's slide storage (PATHOLOGY_SLIDE_STORAGE_DIR), which a
    # worker without that disk downloads through the worker API.
    slide_uploaded = models.BooleanField(_("uploaded slide"), default=False)
    study_id = models.CharField(_("study ID"), max_length=64, blank=True)
    patient_id = models.CharField(_("patient ID"), max_length=64, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="pathology_requests",
        verbose_name=_("requested by"),
    )
    priority = models.SmallIntegerField(_("priority"), default=0)
    status = models.CharField(_("status"), max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    worker = models.ForeignKey(
        InferenceWorker,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requests",
        verbose_name=_("worker"),
    )
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    max_attempts = models.PositiveSmallIntegerField(_("max attempts"), default=3)
    progress = models.PositiveSmallIntegerField(_("progress"), default=0)
    message = models.CharField(_("message"), max_length=255, blank=True)
    result = models.JSONField(_("result"), null=True, blank=True)
    heatmap = models.FileField(_("heatmap"), upload_to=heatmap_path, blank=True)
    # The slide's thumbnail the heatmap (RGBA, same size) is laid over, and
    # JPEG tiles of the top regions: result["top_regions"][n] is tiles[n].
    thumbnail = models.FileField(_("thumbnail"), upload_to=heatmap_path, blank=True)
    tiles = models.JSONField(_("region tiles"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("pathology request")
        verbose_name_plural = _("pathology requests")
        ordering = ["-created_at"]
        indexes = [
            # What workers ask for: pending, by priority then age.
            models.Index(fields=["status", "-priority", "created_at"], name="pathology_claimable"),
            models.Index(fields=["status", "lease_expires_at"], name="pathology_lease"),
            models.Index(fields=["requested_by", "-created_at"], name="pathology_requester"),
        ]

    def __str__(self) -> str:
        return f"{self.slide_reference} ({self.get_status_display()})"

    @property
    def heatmap_url(self) -> str | None:
        """Where the heatmap is served (through the API: media files are not)."""
        return reverse("pathology-api:request-heatmap", args=[self.pk]) if self.heatmap else None

    @property
    def thumbnail_url(self) -> str | None:
        return reverse("pathology-api:request-thumbnail", args=[self.pk]) if self.thumbnail else None

    @property
    def tile_urls(self) -> list[str]:
        return [reverse("pathology-api:request-tile", args=[self.pk, n]) for n in range(len(self.tiles or []))]

    @property
    def slide_reference(self) -> str:
        return self.orthanc_instance_id or self.orthanc_series_id or self.slide_file or str(self.pk)
