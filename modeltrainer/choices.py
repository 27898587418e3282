from django.db import models
from django.utils.translation import gettext_lazy as _


class ExampleSource(models.TextChoices):
    UPLOAD = "upload", _("Upload")
    CONVERSATION = "conversation", _("Conversation logs")
    ADMIN = "admin", _("Admin")
    COMMAND = "command", _("Management command")
    DEMO = "demo", _("Demo")


class VersionStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    TRAINING = "training", _("Training")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class ActivationRequest(models.TextChoices):
    """What a training asks for its version once it is ready."""

    # Activated unless its held-out macro F1 is worse than the active
    # version's by more than MODEL_ACTIVATE_TOLERANCE (or none is active).
    IF_BETTER = "if_better", _("If not worse than the active version")
    ALWAYS = "always", _("Always (forced)")
    NEVER = "never", _("Never (activate by hand)")


class ActivationResult(models.TextChoices):
    """What became of that request. A version kept out is recorded as
    `kept_active_v<N>` (N: the version that stayed active), so the value
    alone says which one serves; KEPT_ACTIVE is its prefix."""

    PENDING = "pending", _("Pending (not trained yet)")
    ACTIVATED = "activated", _("Activated")
    KEPT_ACTIVE = "kept_active", _("Kept the active version")
    NOT_REQUESTED = "not_requested", _("Not activated (not requested)")
    TRAINING_FAILED = "training_failed", _("Not activated (training failed)")
    ACTIVATION_FAILED = "activation_failed", _("Not activated (model file rejected)")


class Algorithm(models.TextChoices):
    LOGISTIC_REGRESSION = "logistic_regression", _("Logistic regression")
    COMPLEMENT_NB = "complement_nb", _("Naive Bayes (Complement)")


class Tokenizer(models.TextChoices):
    # Kiwi morphemes (and Latin words): readable terms, and on the benchmark
    # as accurate as character n-grams from 10,000 examples up and faster to
    # train; on 1,000 examples character n-grams score better
    # (bench/RESULTS.md, "Model trainer").
    MORPHEME = "morpheme", _("Morphemes (Kiwi)")
    CHAR = "char", _("Character n-grams")


class Trigger(models.TextChoices):
    API = "api", _("API")
    COMMAND = "command", _("Management command")
    ADMIN = "admin", _("Admin")


class ImportRating(models.TextChoices):
    """Which rated conversation logs an import takes."""

    UP = "up", _("Liked (+1)")
    DOWN = "down", _("Disliked (-1)")
    BOTH = "both", _("Both")
