from django.db import models
from django.utils.translation import gettext_lazy as _


class LogStatus(models.TextChoices):
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    # A streamed answer whose client went away before the end: the part that
    # was generated is kept.
    INTERRUPTED = "interrupted", _("Interrupted")


class DocumentStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be indexed")
    INDEXED = "indexed", _("Indexed")
    FAILED = "failed", _("Failed")


class DocumentSource(models.TextChoices):
    UPLOAD = "upload", _("Upload")
    COMMAND = "command", _("Management command")
    DEMO = "demo", _("Demo")


class DocumentFormat(models.TextChoices):
    TEXT = "text", _("Text")
    MARKDOWN = "markdown", _("Markdown")
    JSONL = "jsonl", "JSONL"


class Rating(models.IntegerChoices):
    UP = 1, _("Thumbs up")
    DOWN = -1, _("Thumbs down")
