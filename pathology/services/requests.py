"""The user side: ask for an analysis, cancel it, requeue it (staff)."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from aiplatform.errors import Conflict, InvalidInput, UpstreamUnavailable

from ..choices import RequestStatus
from ..models import PathologyRequest
from . import protocol, slides


def local_pipeline_available() -> bool:
    """The server can run the analysis itself when the pipeline (and torch,
    which it imports) is installed."""
    from .local import pipeline_load

    try:
        pipeline_load()
    except ImportError:
        return False
    return True


def request_create(
    *,
    requested_by,
    orthanc_instance_id: str = "",
    orthanc_series_id: str = "",
    slide_file: str = "",
    study_id: str = "",
    patient_id: str = "",
    priority: int = 0,
    slide_upload=None,
) -> PathologyRequest:
    """Queue a slide for analysis: one it names (a file in the workers' slide
    storage, an Orthanc instance or series) or one uploaded with it
    (`slide_upload`, see services.slides). With USE_LOCAL_INFERENCE the
    request waits for a remote worker; without it this server runs the
    pipeline as a task (503 when it cannot)."""
    if slide_upload is not None:
        if slide_file:
            raise InvalidInput(_("Upload a slide or name one, not both."), field="slide_file")
        upload_name = slides.slide_upload_check(upload=slide_upload)
    elif not (orthanc_instance_id or orthanc_series_id or slide_file):
        raise InvalidInput(
            _("Name the slide: orthanc_instance_id, orthanc_series_id or slide_file."), field="slide_file"
        )
    if slide_file and ("/" in slide_file or "\\" in slide_file or slide_file.startswith(".")):
        # A file name, looked up by the worker inside its slide directory.
        raise InvalidInput(_("A file name, without a directory."), field="slide_file")
    if not settings.USE_LOCAL_INFERENCE and not local_pipeline_available():
        raise UpstreamUnavailable(
            _(
                "This server runs no analysis itself (torch and the pipeline are not installed) and "
                "USE_LOCAL_INFERENCE is off, so no worker would take the request."
            ),
            code="pipeline_unavailable",
        )
    if slide_upload is not None:
        slide_file = slides.slide_store(upload=slide_upload, name=upload_name)
    try:
        with transaction.atomic():
            request = PathologyRequest.objects.create(
                requested_by=requested_by if getattr(requested_by, "pk", None) else None,
                orthanc_instance_id=orthanc_instance_id,
                orthanc_series_id=orthanc_series_id,
                slide_file=slide_file,
                slide_uploaded=slide_upload is not None,
                study_id=study_id,
                patient_id=patient_id,
                priority=priority,
                max_attempts=settings.PATHOLOGY_MAX_ATTEMPTS,
            )
            if not settings.USE_LOCAL_INFERENCE:
                transaction.on_commit(lambda: _enqueue_local(request.pk))
    except BaseException:
        if slide_upload is not None:
            slides.slide_storage().delete(slide_file)  # nothing is kept that no request names
        raise
    return request


def _enqueue_local(request_id) -> None:
    from ..tasks import run_pathology_request

    run_pathology_request.enqueue(str(request_id))


def request_cancel(*, request: PathologyRequest) -> PathologyRequest:
    """Cancel a request that has not finished. A worker holding it learns at
    its next report (409, request_cancelled) and stops."""
    cancelled = PathologyRequest.objects.filter(
        pk=request.pk, status__in=[RequestStatus.PENDING, RequestStatus.PROCESSING]
    ).update(status=RequestStatus.CANCELLED, finished_at=timezone.now(), lease_expires_at=None, message=_("Cancelled."))
    protocol.workers_release(request_ids=[request.pk])
    request.refresh_from_db()
    if not cancelled:
        raise Conflict(
            _("The request is already %(s)s.") % {"s": request.status},
            code=f"request_{request.status}",
            extra={"current_status": request.status},
        )
    return request


def request_requeue(*, request: PathologyRequest) -> PathologyRequest:
    """Put a failed, cancelled or stuck request back in the queue with its
    attempts reset (staff). A worker still running it that reports again
    claims it anew if no other worker has (its lease ran out or it was
    requeued, but its work goes on)."""
    PathologyRequest.objects.filter(pk=request.pk).exclude(status=RequestStatus.COMPLETED).update(
        status=RequestStatus.PENDING,
        worker=None,
        lease_expires_at=None,
        attempts=0,
        progress=0,
        message=_("Requeued by staff."),
        error="",
        claimed_at=None,
        started_at=None,
        finished_at=None,
    )
    protocol.workers_release(request_ids=[request.pk])
    request.refresh_from_db()
    if request.status != RequestStatus.PENDING:
        raise Conflict(_("A completed request is not requeued."), code="request_completed")
    return request
