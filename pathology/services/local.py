"""USE_LOCAL_INFERENCE=false: this server runs the analysis itself, in a
task, as a worker named PATHOLOGY_SERVER_WORKER, through the same protocol
services as a remote worker (claim, progress renewing the lease, complete).

The pipeline is the callable named by PATHOLOGY_PIPELINE, the code the
remote worker package runs: `pipeline(request=dict, progress=callable)`
returns `{"result": {...}, "heatmap_png": bytes | None, "thumbnail_jpeg":
bytes | None, "tiles_jpeg": [bytes, ...]}`.
"""

import logging
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from aiplatform.errors import Conflict, DomainError

from ..choices import RequestStatus
from ..models import SLIDE_REFERENCE_FIELDS, InferenceWorker
from . import protocol, slides

logger = logging.getLogger(__name__)


@cache
def pipeline_load():
    return import_string(settings.PATHOLOGY_PIPELINE)


def server_worker() -> InferenceWorker:
    worker, _created = InferenceWorker.objects.get_or_create(
        name=settings.PATHOLOGY_SERVER_WORKER, defaults={"host": "server", "device": "cpu"}
    )
    return worker


def request_run_locally(*, request_id) -> str:
    """Claim, analyse and complete one request here; returns its final status."""
    worker = server_worker()
    try:
        request = protocol.request_update_status(
            worker=worker, request_id=request_id, status=RequestStatus.PROCESSING, message="server pipeline"
        )
    except Conflict as exc:
        # Cancelled meanwhile, or another worker has it.
        return exc.extra.get("current_status", "")
    slide = {"request_id": str(request.pk), **{name: getattr(request, name) for name in SLIDE_REFERENCE_FIELDS}}
    if request.slide_uploaded:
        # Uploaded here: the pipeline opens it where it is, whatever SVS_STORAGE_DIR says.
        slide["slide_path"] = slides.slide_storage().path(request.slide_file)

    def progress(percent: int, message: str = "") -> None:
        protocol.request_update_status(
            worker=worker, request_id=request_id, status=RequestStatus.PROCESSING, progress=percent, message=message
        )

    try:
        output = pipeline_load()(request=slide, progress=progress)
        request, _stored = protocol.request_complete(
            worker=worker,
            request_id=request_id,
            result=output["result"],
            heatmap=output.get("heatmap_png"),
            thumbnail=output.get("thumbnail_jpeg"),
            tiles=output.get("tiles_jpeg") or (),
        )
    except Conflict as exc:
        return exc.extra.get("current_status", "")
    except Exception as exc:  # the analysis failed: the request records why
        logger.exception("server pipeline failed on %s", request_id)
        message = exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        try:
            request = protocol.request_update_status(
                worker=worker, request_id=request_id, status=RequestStatus.FAILED, message=message[:2000]
            )
        except Conflict as conflict:
            return conflict.extra.get("current_status", "")
    return request.status
