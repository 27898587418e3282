from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django_tasks_db.apps import TasksAppConfig


class AiPlatformConfig(AppConfig):
    default = True
    name = "aiplatform"
    verbose_name = _("Platform")

    def ready(self) -> None:
        from aiplatform.api import schema  # noqa: F401  (registers OpenAPI extensions)


class TasksDatabaseConfig(TasksAppConfig):
    """django-tasks-db under a translatable name: its own is a fixed English
    string ("Tasks Database Backend"), shown as is in the admin."""

    verbose_name = _("Background tasks")
