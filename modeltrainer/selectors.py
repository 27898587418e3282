"""Reads of the model trainer: status, recent examples, metrics history."""

from django.db.models import Count

from .choices import VersionStatus
from .models import ModelVersion, TrainingExample
from .predictor import active_model

RECENT_DEFAULT = 5
RECENT_MAX = 100
METRICS_VERSIONS_MAX = 200


def version_summary(version: ModelVersion | None) -> dict | None:
    if version is None:
        return None
    metrics = version.metrics or {}
    return {
        "id": version.pk,
        "version": version.number,
        "status": version.status,
        "active": bool(version.active),
        "algorithm": version.algorithm,
        "tokenizer": version.tokenizer,
        "accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro_f1"),
        "example_count": version.example_count,
        "labels": version.labels,
        "progress": version.progress,
        "stage": version.stage,
        "error": version.error,
        "created_at": version.created_at,
        "finished_at": version.finished_at,
        "activated_at": version.activated_at,
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
                "active": bool(version.active),
                "finished_at": version.finished_at,
                "accuracy": metrics.get("accuracy"),
                "macro_f1": metrics.get("macro_f1"),
                "weighted_f1": metrics.get("weighted_f1"),
                "per_label_f1": {label: row["f1"] for label, row in metrics.get("per_label", {}).items()},
                "example_count": version.example_count,
                "duration_s": version.duration_s,
            }
        )
    return {"versions": history, "labels": label_counts(), "sources": source_counts()}
