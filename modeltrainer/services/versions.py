"""Activating (or rolling back to) and deleting model versions."""

from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from aiplatform.db import is_write_race
from aiplatform.errors import Conflict

from .. import artifacts
from ..choices import VersionStatus
from ..models import ModelVersion


def model_version_activate(*, version: ModelVersion) -> ModelVersion:
    """Make a ready version the one every server process serves (they switch
    within MODEL_RELOAD_SECONDS). Activating an older version is a rollback.
    The file is checked first: a version whose file is missing or altered
    is refused, and the active one stays."""
    if version.status != VersionStatus.READY:
        raise Conflict(
            _("Only a ready version can be activated; v%(n)d is %(s)s.") % {"n": version.number, "s": version.status},
            code="not_ready",
        )
    artifacts.artifact_verify(version.artifact, sha256=version.artifact_sha256)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
                if locked.active:
                    return locked
                ModelVersion.objects.filter(active=True).update(active=None)
                locked.active = True
                locked.activated_at = timezone.now()
                locked.save(update_fields=["active", "activated_at"])
            return locked
        except DatabaseError as exc:
            if not is_write_race(exc):
                raise
            # A concurrent activation of another version committed between
            # our two statements (the unique column caught it): again.
            continue
    raise Conflict(_("Another activation is in progress; try again."), code="busy")


def model_version_delete(*, version: ModelVersion) -> None:
    """Delete an inactive version that is not training, with its file."""
    version.refresh_from_db(fields=["active", "in_flight", "artifact"])
    if version.active:
        raise Conflict(_("The active version cannot be deleted; activate another one first."), code="active")
    if version.in_flight:
        raise Conflict(_("A version that is queued or training cannot be deleted."), code="training")
    name = version.artifact
    with transaction.atomic():
        deleted, _rows = ModelVersion.objects.filter(
            pk=version.pk, active__isnull=True, in_flight__isnull=True
        ).delete()
        if deleted:
            transaction.on_commit(lambda: artifacts.artifact_delete(name))
