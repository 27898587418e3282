from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PathologyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pathology"
    verbose_name = _("Pathology analysis")
