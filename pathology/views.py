"""The pathology page: a thin shell over the JSON API (session + CSRF),
which does every action the page offers."""

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from .services.slides import SLIDE_KINDS


class AnalysisPageView(LoginRequiredMixin, TemplateView):
    """Ask for analyses (upload or name a slide), follow them, read their
    results; staff also see the workers and requeue requests."""

    template_name = "pathology/analysis.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["upload_max_mb"] = settings.PATHOLOGY_UPLOAD_MAX_MB
        context["slide_extensions"] = ",".join(SLIDE_KINDS)
        # Words the script puts together with the API's data.
        context["labels"] = {
            "open": _("Open"),
            "cancel": _("Cancel"),
            "requeue": _("Requeue"),
            "none": _("No requests yet. Ask for an analysis above."),
            "noWorkers": _("No worker has called in yet."),
            "uploading": _("Uploading the slide…"),
            "submitting": _("Sending the request…"),
            "submitted": _("Request sent. It is listed below."),
            "chooseFile": _("Choose a slide file."),
            "nameSlide": _("Enter the slide's name or ID."),
            "tooLarge": _("The slide is larger than the upload limit."),
            "uploaded": _("uploaded"),
            "untrained": _("Untrained model: the prediction is for demonstration only."),
            "region": _("Region"),
            "score": _("score"),
            "size": _("size"),
            "seconds": _("s"),
            "segmentation": _("Tissue segmentation"),
            "features": _("Features"),
            "model": _("Model"),
            "heatmap": _("Heatmap and tiles"),
            "total": _("Total"),
            "waiting": _("Waiting for a worker…"),
            "idle": _("idle"),
            "details": _("Worker's message"),
            "confirmCancel": _("Cancel this analysis?"),
        }
        return context
