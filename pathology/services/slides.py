"""Slides uploaded to this server: checked, stored in the slide storage
directory under a name of our own, and handed to the worker that holds the
request.

The storage directory (PATHOLOGY_SLIDE_STORAGE_DIR) is the one a worker on
the shared disk names as its SVS_STORAGE_DIR, so it finds an uploaded slide
by its `slide_file` like any other; a worker without that disk downloads it
(`slide_open`, through the worker API) instead.
"""

import re
import secrets
import unicodedata
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils.translation import gettext as _

from aiplatform.errors import Conflict, InvalidInput, NotFound

from ..choices import RequestStatus
from ..models import InferenceWorker, PathologyRequest

# Which extensions are accepted, and the signature their files start with.
# SVS, NDPI, SCN, BIF and plain or pyramidal TIFF are all TIFF containers
# (classic or BigTIFF); a DICOM file has its "DICM" after a 128-byte preamble.
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
SLIDE_KINDS = {
    ".svs": "tiff",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".ndpi": "tiff",
    ".scn": "tiff",
    ".bif": "tiff",
    ".dcm": "dicom",
}
NAME_MAX = 120


def slide_storage() -> FileSystemStorage:
    location = settings.PATHOLOGY_SLIDE_STORAGE_DIR or Path(settings.MEDIA_ROOT) / "pathology" / "slides"
    return FileSystemStorage(location=location)


def slide_name_clean(name: str) -> str:
    """A file name safe on any disk: its last part only, letters (any
    script, NFC), digits, '.', '-' and '_' (others become '_'), no leading
    dot, at most NAME_MAX characters with its extension kept."""
    name = unicodedata.normalize("NFC", re.split(r"[/\\]", name or "")[-1]).strip()
    name = re.sub(r"[^\w.\-]", "_", name).lstrip(".")
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    extension = extension.lower()
    stem = stem[: NAME_MAX - len(extension) - 1] or "slide"
    return f"{stem}.{extension}" if extension else stem


def _kind_of(head: bytes) -> str | None:
    if head.startswith(TIFF_SIGNATURES):
        return "tiff"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    return None


def slide_upload_check(*, upload) -> str:
    """The cleaned name of an uploaded slide, once its size (at most
    PATHOLOGY_UPLOAD_MAX_MB) and type (its extension, and the signature its
    content starts with) are right; InvalidInput naming `slide` otherwise."""
    limit = settings.PATHOLOGY_UPLOAD_MAX_MB * 2**20
    if upload.size > limit:
        raise InvalidInput(
            _("The slide is larger than %(n)d MB (PATHOLOGY_UPLOAD_MAX_MB).") % {"n": settings.PATHOLOGY_UPLOAD_MAX_MB},
            field="slide",
            code="too_large",
        )
    if upload.size == 0:
        raise InvalidInput(_("The slide file is empty."), field="slide")
    name = slide_name_clean(upload.name)
    expected = SLIDE_KINDS.get(Path(name).suffix.lower())
    if expected is None:
        raise InvalidInput(
            _("A slide is one of %(extensions)s.") % {"extensions": ", ".join(SLIDE_KINDS)},
            field="slide",
            code="unsupported_type",
        )
    upload.seek(0)
    head = upload.read(132)
    upload.seek(0)
    if _kind_of(head) != expected:
        raise InvalidInput(
            _("The file's content is not a %(kind)s slide, as its name says.")
            % {"kind": "DICOM" if expected == "dicom" else "TIFF/SVS"},
            field="slide",
            code="unsupported_type",
        )
    return name


def slide_store(*, upload, name: str) -> str:
    """Save a checked upload in the slide storage; its stored name (a random
    prefix keeps two uploads of "case.svs" apart)."""
    return slide_storage().save(f"upload-{secrets.token_hex(4)}-{name}", upload)


def slide_open(*, worker: InferenceWorker, request_id):
    """The uploaded slide of a request this worker holds, open for reading,
    with its name and size; Conflict when it does not hold it, NotFound
    when the request has no uploaded slide (or the file is gone)."""
    try:
        request = PathologyRequest.objects.get(pk=request_id)
    except PathologyRequest.DoesNotExist:
        raise NotFound(_("No such request."), field="request_id") from None
    if request.status != RequestStatus.PROCESSING or request.worker_id != worker.pk:
        raise Conflict(
            _("Only the worker holding a request can download its slide."),
            code="not_holder" if request.status == RequestStatus.PROCESSING else f"request_{request.status}",
            extra={"current_status": request.status},
        )
    storage = slide_storage()
    if not request.slide_uploaded or not storage.exists(request.slide_file):
        raise NotFound(_("This request has no uploaded slide."), field="request_id")
    return storage.open(request.slide_file, "rb"), request.slide_file, storage.size(request.slide_file)
