from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ModeltrainerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "modeltrainer"
    verbose_name = _("Text classifier")
