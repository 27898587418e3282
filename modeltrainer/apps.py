from django.apps import AppConfig


class ModeltrainerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "modeltrainer"
    verbose_name = "텍스트 분류 모델"
