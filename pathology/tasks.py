"""Background work of pathology. Thin: take ids, call a service."""

from django_tasks import task

from .services import local


@task()
def run_pathology_request(request_id: str) -> str:
    """Analyse a request on this server (USE_LOCAL_INFERENCE=false); returns its final status."""
    return local.request_run_locally(request_id=request_id)
