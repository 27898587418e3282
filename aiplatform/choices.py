from django.db import models
from django.utils.translation import gettext_lazy as _


class APIKeyScope(models.TextChoices):
    """What a program holding an API key may do.

    `service` acts as the key's owner on the general API; `worker` reaches only
    the pathology worker endpoints; `monitoring:control` runs self-healing
    actions and backups; `model:train` uploads training data, trains and
    activates classifier versions (a scheduled retrain, a CI pipeline).
    """

    SERVICE = "service", _("Service (general API)")
    WORKER = "worker", _("Pathology worker")
    MONITORING_CONTROL = "monitoring:control", _("Monitoring control")
    MODEL_TRAIN = "model:train", _("Model training")
