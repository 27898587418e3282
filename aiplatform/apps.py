from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AiPlatformConfig(AppConfig):
    name = "aiplatform"
    verbose_name = _("Platform")

    def ready(self) -> None:
        from aiplatform.api import schema  # noqa: F401  (registers OpenAPI extensions)
