from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import TemplateView

from .choices import LogStatus


class LogViewerView(LoginRequiredMixin, TemplateView):
    """The log viewer page; it reads the logs through the API with the
    session of the signed-in user."""

    template_name = "conversations/log_viewer.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["statuses"] = LogStatus.choices
        return context
