"""The worker protocol: list claimable requests (long-polled), claim with a
conditional update, renew the lease with each report, complete once.

Every state change is one conditional UPDATE whose WHERE clause states what
must still be true (status, holder), and its row count says whether it won:
two workers that claim at once cannot both succeed, and a worker whose
lease has run out cannot complete a request another worker now holds.
"""

import datetime as dt
import secrets
import threading
import time

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from aiplatform.db import is_write_race
from aiplatform.errors import Conflict, InvalidInput, NotFound

from ..choices import FINISHED, RequestStatus
from ..models import InferenceWorker, PathologyRequest
from .results import EXTENSIONS, image_check, image_kind, result_validate

LAST_SEEN_RESOLUTION_SECONDS = 5
_reaped_at = 0.0
_reap_lock = threading.Lock()


def worker_for_key(*, api_key, host: str = "", device: str = "", version: str = "") -> InferenceWorker:
    """The worker an API key stands for, registered on its first call, with
    what it says of itself and when it was last seen."""
    worker = InferenceWorker.objects.filter(api_key=api_key).first()
    if worker is None:
        name = api_key.name[:40] or "worker"
        try:
            worker = InferenceWorker.objects.create(
                api_key=api_key,
                name=name if not InferenceWorker.objects.filter(name=name).exists() else f"{name}-{api_key.prefix}",
            )
        except DatabaseError as exc:
            if not is_write_race(exc):
                raise
            worker = InferenceWorker.objects.get(api_key=api_key)
    now = timezone.now()
    changes = {
        name: value[:limit]
        for name, value, limit in (("host", host, 128), ("device", device, 64), ("version", version, 64))
        if value and value[:limit] != getattr(worker, name)
    }
    stale = worker.last_seen is None or (now - worker.last_seen).total_seconds() > LAST_SEEN_RESOLUTION_SECONDS
    if changes or stale:
        changes["last_seen"] = now
        InferenceWorker.objects.filter(pk=worker.pk).update(**changes)
        for name, value in changes.items():
            setattr(worker, name, value)
    return worker


def _lease_end(now):
    return now + dt.timedelta(seconds=settings.PATHOLOGY_LEASE_SECONDS)


def leases_reap(*, now=None) -> tuple[int, int]:
    """Requests whose lease ran out: back to pending (the attempt is
    counted), or failed once they have used max_attempts. Returns
    (requeued, failed)."""
    now = now or timezone.now()
    expired_ids = list(
        PathologyRequest.objects.filter(status=RequestStatus.PROCESSING, lease_expires_at__lt=now).values_list(
            "pk", flat=True
        )
    )
    if not expired_ids:
        return 0, 0
    # The conditions are stated again: a holder that reported meanwhile has
    # a new lease and keeps its request.
    expired = PathologyRequest.objects.filter(
        pk__in=expired_ids, status=RequestStatus.PROCESSING, lease_expires_at__lt=now
    )
    failed = expired.filter(attempts__gte=F("max_attempts")).update(
        status=RequestStatus.FAILED,
        lease_expires_at=None,
        finished_at=now,
        message=_("Failed."),
        error=_("The worker stopped reporting and the lease ran out on every attempt."),
    )
    requeued = expired.filter(attempts__lt=F("max_attempts")).update(
        status=RequestStatus.PENDING,
        worker=None,
        lease_expires_at=None,
        progress=0,
        message=_("The worker stopped reporting; requeued."),
    )
    workers_release(request_ids=expired_ids)
    return requeued, failed


def workers_release(*, request_ids) -> None:
    """Workers no longer hold these requests (ended, requeued, cancelled)."""
    InferenceWorker.objects.filter(current_request_id__in=request_ids).exclude(
        current_request__status=RequestStatus.PROCESSING, current_request__worker_id=F("pk")
    ).update(current_request=None)


def leases_reap_now_and_then() -> None:
    """leases_reap at most once per PATHOLOGY_REAP_SECONDS in this process:
    every poll calls it, and a write per poll is not needed."""
    global _reaped_at
    if time.monotonic() - _reaped_at < settings.PATHOLOGY_REAP_SECONDS:
        return
    if not _reap_lock.acquire(blocking=False):
        return
    try:
        _reaped_at = time.monotonic()
        leases_reap()
    finally:
        _reap_lock.release()


# What a worker can open, as it names it when it polls.
SLIDE_SOURCES = ("file", "orthanc", "upload")


def _openable_with(sources) -> Q:
    """Requests whose slide a worker with these sources can open: a file
    name needs "file" (its slide storage), an Orthanc instance or series
    "orthanc", an uploaded slide "upload" (it downloads it from here) or
    "file" (a worker that shares this server's slide storage)."""
    openable = Q(pk__in=[])
    if "file" in sources:
        openable |= ~Q(slide_file="")
    if "orthanc" in sources:
        openable |= ~Q(orthanc_instance_id="") | ~Q(orthanc_series_id="")
    if "upload" in sources:
        openable |= Q(slide_uploaded=True)
    return openable


def requests_claimable(*, limit: int, wait: float = 0, sources=None) -> list[PathologyRequest]:
    """Pending requests, highest priority then oldest first; with `sources`
    (see SLIDE_SOURCES) only those a worker with them can open, so that it
    does not claim a request only to hand it back. With `wait`, ask again
    every PATHOLOGY_POLL_SECONDS until one appears or `wait` seconds have
    passed."""
    deadline = time.monotonic() + wait
    pending = PathologyRequest.objects.filter(status=RequestStatus.PENDING)
    if sources is not None:
        pending = pending.filter(_openable_with(sources))
    while True:
        leases_reap_now_and_then()
        rows = list(pending.order_by("-priority", "created_at")[:limit])
        remaining = deadline - time.monotonic()
        if rows or remaining <= 0:
            return rows
        time.sleep(min(settings.PATHOLOGY_POLL_SECONDS, remaining))


def _held(request_id) -> PathologyRequest:
    try:
        return PathologyRequest.objects.select_related("worker").get(pk=request_id)
    except PathologyRequest.DoesNotExist:
        raise NotFound(_("No such request."), field="request_id") from None


def _conflict(request: PathologyRequest, message: str) -> Conflict:
    if request.status in FINISHED or request.status == RequestStatus.PENDING:
        message = _("The request is %(status)s; this worker does not hold it.") % {"status": request.status}
    return Conflict(
        message,
        code="not_holder" if request.status == RequestStatus.PROCESSING else f"request_{request.status}",
        extra={"current_status": request.status, "holder": request.worker.name if request.worker else None},
    )


def request_update_status(
    *, worker: InferenceWorker, request_id, status: str, progress: int | None = None, message: str = ""
) -> PathologyRequest:
    """A worker's report. The first move to `processing` is the claim;
    later ones from the holder renew the lease and record progress; `failed`
    from the holder ends the request with the error; `pending` from the
    holder hands it back (see _hand_back)."""
    now = timezone.now()
    fields = {"message": message[:255]} if message else {}
    if progress is not None:
        fields["progress"] = progress
    if status == RequestStatus.PROCESSING:
        claimed = PathologyRequest.objects.filter(pk=request_id, status=RequestStatus.PENDING).update(
            status=RequestStatus.PROCESSING,
            worker=worker,
            attempts=F("attempts") + 1,
            claimed_at=now,
            started_at=now,
            lease_expires_at=_lease_end(now),
            error="",
            # A claim starts afresh: no progress or message of an earlier attempt.
            **{"progress": 0, "message": "", **fields},
        )
        if not claimed:
            renewed = PathologyRequest.objects.filter(
                pk=request_id, status=RequestStatus.PROCESSING, worker=worker
            ).update(lease_expires_at=_lease_end(now), **fields)
            if not renewed:
                current = _held(request_id)
                raise _conflict(current, _("Another worker holds this request, or it is no longer pending."))
        InferenceWorker.objects.filter(pk=worker.pk).update(current_request_id=request_id, last_seen=now)
    elif status == RequestStatus.FAILED:
        ended = PathologyRequest.objects.filter(pk=request_id, status=RequestStatus.PROCESSING, worker=worker).update(
            status=RequestStatus.FAILED,
            # The message was the last progress report ("claimed", "features 40/90"); the
            # error says what went wrong, the message that it is over.
            message=_("Failed."),
            error=message or _("The worker reported a failure."),
            finished_at=now,
            lease_expires_at=None,
            **({"progress": progress} if progress is not None else {}),
        )
        if not ended:
            raise _conflict(_held(request_id), _("Only the worker holding a request can fail it."))
        workers_release(request_ids=[request_id])
    elif status == RequestStatus.PENDING:
        _hand_back(worker=worker, request_id=request_id, message=message, now=now)
    else:
        raise InvalidInput(_("A worker reports `processing`, `failed` or `pending`."), field="status")
    return _held(request_id)


def _hand_back(*, worker: InferenceWorker, request_id, message: str, now) -> None:
    """The holder cannot process the request now (its slide source is
    down, it is shutting down): back to pending for another worker or a
    later try, the attempt counted; failed once max_attempts are used, so
    a request no worker can take does not circle for ever."""
    held = PathologyRequest.objects.filter(pk=request_id, status=RequestStatus.PROCESSING, worker=worker)
    reason = message[:255] or _("The worker handed the request back.")
    ended = held.filter(attempts__gte=F("max_attempts")).update(
        status=RequestStatus.FAILED,
        error=_("Handed back on every attempt; the last reason: %(reason)s") % {"reason": reason},
        message=_("Failed."),
        finished_at=now,
        lease_expires_at=None,
    )
    requeued = held.filter(attempts__lt=F("max_attempts")).update(
        status=RequestStatus.PENDING, worker=None, lease_expires_at=None, progress=0, message=reason
    )
    if not (ended or requeued):
        raise _conflict(_held(request_id), _("Only the worker holding a request can hand it back."))
    workers_release(request_ids=[request_id])


def _images_save(*, request_id, heatmap: bytes | None, thumbnail: bytes | None, tiles) -> dict:
    """Store a completion's images under names of our own (never the
    uploader's), one set per completion: a late completion that loses the
    race in request_complete cannot overwrite the winner's images."""
    stem = f"{request_id}-{secrets.token_hex(4)}"

    def save(folder: str, data: bytes, suffix: str = "") -> str:
        extension = EXTENSIONS[image_kind(data)]
        return default_storage.save(f"pathology/{folder}/{stem}{suffix}.{extension}", ContentFile(data))

    return {
        "heatmap": save("heatmaps", heatmap) if heatmap is not None else "",
        "thumbnail": save("thumbnails", thumbnail) if thumbnail is not None else "",
        "tiles": [save("tiles", tile, f"-{n}") for n, tile in enumerate(tiles)],
    }


def _images_delete(names: dict) -> None:
    for name in [names["heatmap"], names["thumbnail"], *names["tiles"]]:
        if name:
            default_storage.delete(name)


def request_complete(
    *, worker: InferenceWorker, request_id, result, heatmap: bytes | None, thumbnail: bytes | None = None, tiles=()
) -> tuple[PathologyRequest, bool]:
    """Store the result and its images (heatmap, the slide's thumbnail, the
    top regions' tiles, each already checked by results.*_decode) of a
    request this worker holds; returns (request, stored). Sending the same
    completion again is harmless: the stored request comes back with
    stored=False."""
    current = _held(request_id)
    if current.status == RequestStatus.COMPLETED and current.worker_id == worker.pk:
        return current, False
    if current.status != RequestStatus.PROCESSING or current.worker_id != worker.pk:
        raise _conflict(current, _("Only the worker holding a request can complete it."))
    result = result_validate(result)
    if len(tiles) > len(result.get("top_regions", [])):
        raise InvalidInput(_("One tile per top region at most."), field="tiles")
    # Checked again here (a header parse, cheap): the server's own pipeline hands its images straight in.
    if heatmap is not None:
        image_check(heatmap, field="heatmap", kinds=("png",), noun=_("heatmap"))
    if thumbnail is not None:
        image_check(thumbnail, field="thumbnail", kinds=("jpeg", "png"), noun=_("thumbnail"))
    for n, tile in enumerate(tiles):
        image_check(tile, field=f"tiles.{n}", kinds=("jpeg", "png"), noun=_("tile"))
    names = _images_save(request_id=current.pk, heatmap=heatmap, thumbnail=thumbnail, tiles=tiles)
    now = timezone.now()
    stored = PathologyRequest.objects.filter(pk=request_id, status=RequestStatus.PROCESSING, worker=worker).update(
        status=RequestStatus.COMPLETED,
        result=result,
        **names,
        progress=100,
        message=_("Completed."),
        finished_at=now,
        lease_expires_at=None,
        error="",
    )
    if not stored:
        _images_delete(names)
        current = _held(request_id)
        if current.status == RequestStatus.COMPLETED and current.worker_id == worker.pk:
            return current, False
        raise _conflict(current, _("Only the worker holding a request can complete it."))
    workers_release(request_ids=[request_id])
    return _held(request_id), True
