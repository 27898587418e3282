from django.apps import AppConfig


class PathologyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pathology"
    verbose_name = "병리 분석"
