"""Background work of the model trainer. Thin: take ids, call a service."""

from django_tasks import task

from .services import training


@task()
def train_model_version(version_id: int) -> dict:
    """Train a queued model version; returns its number, status and what
    was decided about activating it."""
    version = training.model_version_run(version_id=version_id)
    return {"version": version.number, "status": version.status, "activation": version.activation.get("result")}
