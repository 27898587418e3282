"""Activating (or rolling back to) and deleting model versions, and the
decision whether a newly trained version replaces the active one."""

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from aiplatform.db import is_write_race
from aiplatform.errors import Conflict

from .. import artifacts
from ..choices import ActivationRequest, ActivationResult, VersionStatus
from ..models import ModelVersion


def activation_request_parse(value) -> str:
    """The API's and the command's `activate` as an ActivationRequest:
    true means "if not worse", false "never", or a request's own name.
    Anything else is a ValueError (the serializer names the field)."""
    if value is True:
        return ActivationRequest.IF_BETTER
    if value is False:
        return ActivationRequest.NEVER
    if isinstance(value, str) and value in ActivationRequest.values:
        return value
    raise ValueError(value)


def _macro_f1(version: ModelVersion | None) -> float | None:
    value = (version.metrics or {}).get("macro_f1") if version is not None else None
    return float(value) if isinstance(value, int | float) else None


def activation_compare(*, candidate: ModelVersion, active: ModelVersion | None, tolerance: float) -> dict:
    """Whether `candidate` may replace `active` under "if not worse": the
    decision ({"result", "code"} and the figures compared). Pure, so the
    rule reads in one place and is tested without a database."""
    new, old = _macro_f1(candidate), _macro_f1(active)
    figures = {"macro_f1": new, "tolerance": tolerance}
    if active is None:
        return {"result": ActivationResult.ACTIVATED, "code": "no_active", **figures}
    figures |= {"compared_with": active.number, "active_macro_f1": old}
    kept = f"{ActivationResult.KEPT_ACTIVE}_v{active.number}"
    if new is None:
        # Nothing was held out, so nothing says it is not worse.
        return {"result": kept, "code": "no_metrics", **figures}
    if old is None:
        return {"result": ActivationResult.ACTIVATED, "code": "active_has_no_metrics", **figures}
    delta = round(new - old, 4)
    figures["delta"] = delta
    # Rounded like the metrics themselves, so a drop of exactly the
    # tolerance counts as "not worse by more than" it.
    if round(old - new, 4) > tolerance:
        return {"result": kept, "code": "worse", **figures}
    return {"result": ActivationResult.ACTIVATED, "code": "not_worse", **figures}


def _swap_active(locked: ModelVersion) -> ModelVersion:
    ModelVersion.objects.filter(active=True).exclude(pk=locked.pk).update(active=None)
    locked.active = True
    locked.activated_at = timezone.now()
    locked.save(update_fields=["active", "activated_at"])
    return locked


def _check_ready(version: ModelVersion) -> None:
    if version.status != VersionStatus.READY:
        raise Conflict(
            _("Only a ready version can be activated; v%(n)d is %(s)s.") % {"n": version.number, "s": version.status},
            code="not_ready",
        )


def model_version_activate(*, version: ModelVersion) -> ModelVersion:
    """Make a ready version the one every server process serves (they switch
    within MODEL_RELOAD_SECONDS). Activating an older version is a rollback;
    a person choosing a version is never second-guessed by its metrics.
    The file is checked first: a version whose file is missing or altered
    is refused, and the active one stays."""
    _check_ready(version)
    artifacts.artifact_verify(version.artifact, sha256=version.artifact_sha256)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                # The active row first, then ours: two activations queue on
                # the same lock instead of crossing.
                list(ModelVersion.objects.select_for_update().filter(active=True))
                locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
                if locked.active:
                    return locked
                return _swap_active(locked)
        except DatabaseError as exc:
            if not is_write_race(exc):
                raise
            # A concurrent activation of another version committed between
            # our two statements (the unique column caught it): again.
            continue
    raise Conflict(_("Another activation is in progress; try again."), code="busy")


def model_version_decide_activation(*, version: ModelVersion) -> ModelVersion:
    """Act on what the training asked for, once its version is ready, and
    record the decision on it: "never" leaves it inactive, "always" makes
    it active, "if_better" (the default) makes it active unless its held-out
    macro F1 is worse than the active version's by more than
    MODEL_ACTIVATE_TOLERANCE, so a training on worse data (say, a few
    hundred noisy rated chats) does not silently replace a better model.
    The comparison and the swap happen under one lock of the active row."""
    requested = version.activation_requested
    tolerance = float(settings.MODEL_ACTIVATE_TOLERANCE)
    if requested == ActivationRequest.NEVER:
        return _record(version, {"result": ActivationResult.NOT_REQUESTED, "code": "not_requested"}, requested)
    try:
        _check_ready(version)
        artifacts.artifact_verify(version.artifact, sha256=version.artifact_sha256)
    except artifacts.ArtifactRejected as exc:
        return _record(
            version,
            {"result": ActivationResult.ACTIVATION_FAILED, "code": "file_rejected", "error": exc.message},
            requested,
        )
    for _attempt in range(5):
        try:
            with transaction.atomic():
                active = ModelVersion.objects.select_for_update().filter(active=True).first()
                locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
                if requested == ActivationRequest.ALWAYS:
                    decision = {
                        "result": ActivationResult.ACTIVATED,
                        "code": "forced",
                        "macro_f1": _macro_f1(locked),
                        "tolerance": tolerance,
                    }
                    if active is not None:
                        decision |= {"compared_with": active.number, "active_macro_f1": _macro_f1(active)}
                else:
                    decision = activation_compare(candidate=locked, active=active, tolerance=tolerance)
                if decision["result"] == ActivationResult.ACTIVATED:
                    _swap_active(locked)
                return _record(locked, decision, requested)
        except DatabaseError as exc:
            if not is_write_race(exc):
                raise
            continue
    return _record(version, {"result": ActivationResult.ACTIVATION_FAILED, "code": "busy"}, requested)


def _record(version: ModelVersion, decision: dict, requested: str) -> ModelVersion:
    version.activation = {"requested": requested, **decision}
    ModelVersion.objects.filter(pk=version.pk).update(activation=version.activation)
    return version


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
