from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import TemplateView

from . import charts, selectors
from .models import ModelVersion


class MetricsPageView(LoginRequiredMixin, TemplateView):
    """Metrics of the model versions over time and the label distribution,
    for a person to look at."""

    template_name = "modeltrainer/metrics.html"
    login_url = "/admin/login/"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        history = selectors.metrics_history()
        context["chart"] = charts.metrics_chart(history["versions"])
        context["bars"] = charts.label_bars(history["labels"])
        context["history"] = list(reversed(history["versions"]))
        context["sources"] = history["sources"]
        context["active"] = ModelVersion.objects.filter(active=True).first()
        context["status"] = selectors.trainer_status()
        return context
