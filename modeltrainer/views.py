from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import TemplateView

from . import charts, selectors
from .choices import ActivationRequest, ActivationResult, Algorithm, ExampleSource, Tokenizer, VersionStatus
from .models import ModelVersion

VERSIONS_SHOWN = 50


def _tone(version: ModelVersion, activation: dict) -> str:
    """How the page colours a decision: activated, kept (a better version
    stayed), failed, or neutral (pending, not requested)."""
    result = activation.get("result", "")
    if version.status == VersionStatus.FAILED:
        return "failed"
    if result == ActivationResult.ACTIVATED:
        return "activated"
    if result.startswith(ActivationResult.KEPT_ACTIVE):
        return "kept"
    if result in (ActivationResult.TRAINING_FAILED, ActivationResult.ACTIVATION_FAILED):
        return "failed"
    return "neutral"


class ModelPageView(LoginRequiredMixin, TemplateView):
    """The model trainer's page: which version serves and how well, a
    training in progress (the page polls its progress), every version's
    metrics, and a box to try predictions; for staff also training (with
    the activation choice), activation and rollback, and the comparison of
    two versions. Every action goes through the JSON API with the session."""

    template_name = "modeltrainer/model.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        history = selectors.metrics_history()
        versions = list(ModelVersion.objects.select_related("triggered_by").order_by("-number")[:VERSIONS_SHOWN])
        active = next((version for version in versions if version.active), None)
        if active is None:
            active = ModelVersion.objects.filter(active=True).first()
        rows = [
            {
                "version": version,
                "activation": (activation := selectors.activation_view(version)),
                "tone": _tone(version, activation),
                "older_than_active": active is not None and version.number < active.number,
                "stage_label": selectors.stage_label(version.stage),
                "accuracy": (version.metrics or {}).get("accuracy"),
                "macro_f1": (version.metrics or {}).get("macro_f1"),
            }
            for version in versions
        ]
        finished = [row for row in rows if row["version"].status in (VersionStatus.READY, VersionStatus.FAILED)]
        ready = [row["version"] for row in rows if row["version"].status == VersionStatus.READY]
        candidate = next((version for version in ready if not version.active), ready[0] if ready else None)
        source_labels = dict(ExampleSource.choices)
        context.update(
            {
                "status": selectors.trainer_status(),
                "active": active,
                "training": next((row for row in rows if row["version"].in_flight), None),
                "latest": finished[0] if finished else None,
                "rows": rows,
                "ready": ready,
                "compare_default": candidate,
                "chart": charts.metrics_chart(history["versions"]),
                "bars": charts.label_bars(history["labels"]),
                "sources": [(source_labels.get(key, key), count) for key, count in history["sources"].items()],
                "algorithms": Algorithm.choices,
                "tokenizers": Tokenizer.choices,
                "activation_choices": ActivationRequest.choices,
                "min_confidence": settings.MODEL_MIN_CONFIDENCE,
                "tolerance": settings.MODEL_ACTIVATE_TOLERANCE,
            }
        )
        return context
