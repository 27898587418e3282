"""Reads of the model trainer: status, recent examples, metrics history,
activation decisions and version comparisons, as a person or a client
reads them (times in Asia/Seoul, reasons in the request's language)."""

import datetime as dt

from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from .choices import ActivationRequest, ActivationResult, VersionStatus
from .models import ModelVersion, TrainingExample
from .predictor import active_model

RECENT_DEFAULT = 5
RECENT_MAX = 100
METRICS_VERSIONS_MAX = 200


# The stages a training reports (services.training), as a person reads them.
STAGE_LABELS = {
    "queued": _lazy("queued"),
    "loading examples": _lazy("loading examples"),
    "vectorizing": _lazy("vectorizing"),
    "fitting": _lazy("fitting"),
    "evaluating": _lazy("evaluating"),
    "saving": _lazy("saving"),
    "ready": _lazy("ready"),
    "failed": _lazy("failed"),
}


def stage_label(stage: str) -> str:
    return str(STAGE_LABELS.get(stage, stage))


def local_time(value: dt.datetime | None) -> str | None:
    """A stored (UTC) time as ISO 8601 in the site's zone (Asia/Seoul), as
    DRF's DateTimeField writes it, so every answer of the API agrees."""
    return timezone.localtime(value).isoformat() if value is not None else None


def _reason(activation: dict) -> str:
    code = activation.get("code", "")
    figures = {
        "new": activation.get("macro_f1"),
        "old": activation.get("active_macro_f1"),
        "n": activation.get("compared_with"),
        "tol": activation.get("tolerance"),
        "drop": None,
        "error": activation.get("error", ""),
    }
    if figures["new"] is not None and figures["old"] is not None:
        figures["drop"] = round(figures["old"] - figures["new"], 4)
    if code == "pending":
        return _("Decided when the training finishes.")
    if code == "no_active":
        return _("No version was active, so this one became active.")
    if code == "not_worse":
        return (
            _(
                "Macro F1 %(new)s is not worse than the active v%(n)s's %(old)s by more than %(tol)s, "
                "so it became active."
            )
            % figures
        )
    if code == "active_has_no_metrics":
        return _("The active v%(n)s had no held-out metrics to compare with, so this one became active.") % figures
    if code == "forced":
        if figures["n"] is None:
            return _("Activated as requested (forced), whatever its metrics.")
        return (
            _("Activated as requested (forced), whatever its metrics: macro F1 %(new)s, v%(n)s had %(old)s.") % figures
        )
    if code == "worse":
        return (
            _(
                "Macro F1 %(new)s is worse than the active v%(n)s's %(old)s by %(drop)s, more than the tolerance "
                "%(tol)s, so v%(n)s stays active. Activate this version by hand, or train with activate "
                '"always", to use it anyway.'
            )
            % figures
        )
    if code == "no_metrics":
        return (
            _(
                "Nothing was held out to measure this version, so it cannot be shown not to be worse: "
                "v%(n)s stays active."
            )
            % figures
        )
    if code == "not_requested":
        return _("Not activated: the training asked not to be. Activate it by hand to use it.")
    if code == "training_failed":
        return _("The training failed, so the active version was left alone.")
    if code == "file_rejected":
        return _("The model file failed its check (%(error)s); the active version was left alone.") % figures
    if code == "busy":
        return _("Other activations held the lock; the version was not activated. Activate it by hand.")
    return ""


def activation_view(version: ModelVersion) -> dict:
    """The version's activation decision as recorded, with `reason` (and the
    request's and result's labels) in the current language. A version
    trained before decisions were recorded has an empty result."""
    recorded = dict(version.activation or {})
    requested = recorded.get("requested") or version.activation_requested
    result = recorded.get("result", "")
    base = ActivationResult.KEPT_ACTIVE if result.startswith(ActivationResult.KEPT_ACTIVE) else result
    labels = dict(ActivationResult.choices)
    result_label = str(labels.get(base, ""))
    if base == ActivationResult.KEPT_ACTIVE and recorded.get("compared_with") is not None:
        result_label = _("Kept v%(n)s active") % {"n": recorded["compared_with"]}
    return {
        **recorded,
        "requested": requested,
        "requested_label": str(dict(ActivationRequest.choices).get(requested, requested)),
        "result": result,
        "result_label": result_label,
        "reason": _reason(recorded),
    }


def version_summary(version: ModelVersion | None) -> dict | None:
    if version is None:
        return None
    metrics = version.metrics or {}
    return {
        "id": version.pk,
        "version": version.number,
        "status": version.status,
        "status_label": version.get_status_display(),
        "active": bool(version.active),
        "algorithm": version.algorithm,
        "tokenizer": version.tokenizer,
        "accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro_f1"),
        "example_count": version.example_count,
        "labels": version.labels,
        "progress": version.progress,
        "stage": version.stage,
        "stage_label": stage_label(version.stage),
        "error": version.error,
        "activation": activation_view(version),
        "created_at": local_time(version.created_at),
        "started_at": local_time(version.started_at),
        "finished_at": local_time(version.finished_at),
        "activated_at": local_time(version.activated_at),
    }


def label_counts() -> dict[str, int]:
    rows = TrainingExample.objects.values_list("label").annotate(n=Count("id")).order_by("label")
    return dict(rows)


def source_counts() -> dict[str, int]:
    return dict(TrainingExample.objects.values_list("source").annotate(n=Count("id")).order_by("source"))


def trainer_status() -> dict:
    """The seed's status (server, model, log_count) plus the active version
    and its metrics, the training in progress, examples per label, and
    which version this process serves."""
    active = ModelVersion.objects.filter(active=True).first()
    training = ModelVersion.objects.filter(in_flight=True).first()
    by_label = label_counts()
    loaded = active_model.loaded
    body = {
        "server": "running",
        "model": "trained" if active is not None else "not_trained",
        "log_count": sum(by_label.values()),
        "active_version": version_summary(active),
        "metrics": (active.metrics if active is not None else None),
        "training": version_summary(training),
        "examples": {"total": sum(by_label.values()), "by_label": by_label},
        "process": {"serving_version": loaded.number if loaded else None, "load_error": active_model.last_error},
    }
    return body


def examples_recent(*, limit: int = RECENT_DEFAULT):
    return TrainingExample.objects.order_by("-id")[:limit]


def metrics_history() -> dict:
    """Metrics of every finished version, oldest first, and the current
    label and source distribution of the examples."""
    versions = list(
        ModelVersion.objects.filter(status__in=[VersionStatus.READY, VersionStatus.FAILED]).order_by("-number")[
            :METRICS_VERSIONS_MAX
        ]
    )
    versions.reverse()
    history = []
    for version in versions:
        metrics = version.metrics or {}
        history.append(
            {
                "version": version.number,
                "status": version.status,
                "status_label": version.get_status_display(),
                "active": bool(version.active),
                "finished_at": local_time(version.finished_at),
                "accuracy": metrics.get("accuracy"),
                "macro_f1": metrics.get("macro_f1"),
                "weighted_f1": metrics.get("weighted_f1"),
                "per_label_f1": {label: row["f1"] for label, row in metrics.get("per_label", {}).items()},
                "example_count": version.example_count,
                "duration_s": version.duration_s,
                "activation": activation_view(version),
            }
        )
    return {"versions": history, "labels": label_counts(), "sources": source_counts()}


def _figure(metrics: dict, key: str) -> float | None:
    value = metrics.get(key)
    return value if isinstance(value, int | float) else None


def _delta(new: float | None, old: float | None) -> float | None:
    return round(new - old, 4) if new is not None and old is not None else None


def versions_compare(*, version: ModelVersion, against: ModelVersion | None) -> dict:
    """`version` beside `against` (by default the caller passes the active
    one): accuracy, macro and weighted F1 and each label's F1 of both, and
    the differences (version minus against; positive is better). A label
    only one of them knows has a null on the other side and no delta."""
    mine = version.metrics or {}
    theirs = (against.metrics or {}) if against is not None else {}
    overall = {}
    for key in ("accuracy", "macro_f1", "weighted_f1"):
        new, old = _figure(mine, key), _figure(theirs, key)
        overall[key] = {"version": new, "against": old, "delta": _delta(new, old)}
    mine_labels, their_labels = mine.get("per_label", {}), theirs.get("per_label", {})
    per_label = []
    for label in sorted(set(mine_labels) | set(their_labels)):
        new = mine_labels.get(label, {}).get("f1")
        old = their_labels.get(label, {}).get("f1")
        per_label.append({"label": label, "version": new, "against": old, "delta": _delta(new, old)})
    return {
        "version": version_summary(version),
        "against": version_summary(against),
        "overall": overall,
        "per_label_f1": per_label,
    }
