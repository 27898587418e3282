"""The seed's paths under /api/pathology/ and REST viewsets.

Users (and `service` keys) ask for analyses and read their requests; the
worker endpoints (pending-requests, update-status, complete-request) accept
only API keys with the `worker` scope and refuse user logins."""

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from aiplatform.api.pagination import parse_bounded_int
from aiplatform.api.permissions import IsStaff, ScopedAccess, request_api_key
from aiplatform.choices import APIKeyScope
from aiplatform.errors import InvalidInput

from .. import selectors
from ..filtersets import PathologyRequestFilterSet
from ..models import InferenceWorker
from ..services import protocol, requests, slides
from ..services.results import (
    CONTENT_TYPES,
    heatmap_decode,
    image_kind,
    result_validate,
    thumbnail_decode,
    tiles_decode,
)
from .serializers import (
    CompleteRequestSerializer,
    InferenceWorkerSerializer,
    PathologyRequestSerializer,
    PendingRequestSerializer,
    SlideAnalysisRequestSerializer,
    UpdateStatusSerializer,
)

TAG = "pathology"
WORKER_TAG = "pathology worker"
CONFLICT = OpenApiResponse(description="Another worker holds the request, or it is no longer open.")


class AnalyzeView(APIView):
    """Ask for the analysis of a slide (the "AI 분석" button). The request waits for a worker
    (USE_LOCAL_INFERENCE=true) or runs on this server as a task."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        tags=[TAG],
        request={
            "application/json": SlideAnalysisRequestSerializer,
            "multipart/form-data": SlideAnalysisRequestSerializer,
        },
        responses={202: OpenApiTypes.OBJECT, 503: OpenApiResponse(description="No way to run the analysis.")},
    )
    def post(self, request):
        # Refused before the body is read: an oversized upload is not spooled to disk first.
        limit = settings.PATHOLOGY_UPLOAD_MAX_MB * 2**20 + 2**20
        if parse_content_length(request) > limit:
            raise InvalidInput(
                _("The slide is larger than %(n)d MB (PATHOLOGY_UPLOAD_MAX_MB).")
                % {"n": settings.PATHOLOGY_UPLOAD_MAX_MB},
                field="slide",
                code="too_large",
            )
        params = SlideAnalysisRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        created = requests.request_create(requested_by=request.user, slide_upload=data.pop("slide", None), **data)
        body = {
            "success": True,
            "request_id": str(created.pk),
            "status": created.status,
            "request": PathologyRequestSerializer(created).data,
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


def parse_content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def parse_sources(request) -> tuple[str, ...] | None:
    raw = request.query_params.get("sources")
    if raw is None:
        return None
    sources = tuple(name.strip() for name in raw.split(",") if name.strip())
    unknown = [name for name in sources if name not in protocol.SLIDE_SOURCES]
    if unknown:
        raise InvalidInput(
            _("Unknown source %(names)s; the sources are %(known)s.")
            % {"names": ", ".join(unknown), "known": ", ".join(protocol.SLIDE_SOURCES)},
            field="sources",
        )
    return sources


class WorkerView(APIView):
    """Base of the worker endpoints: `worker` keys only, and the worker the key stands for."""

    api_key_scopes = (APIKeyScope.WORKER,)
    users_allowed = False

    def worker(self, request) -> InferenceWorker:
        headers = request.headers
        return protocol.worker_for_key(
            api_key=request_api_key(request),
            host=headers.get("X-Worker-Host", ""),
            device=headers.get("X-Worker-Device", ""),
            version=headers.get("X-Worker-Version", ""),
        )


class PendingRequestsView(WorkerView):
    """Claimable requests, highest priority then oldest first, in the seed's shape
    `{"success": true, "count": n, "requests": [...]}`. `wait=N` holds the call up to N seconds
    (at most PATHOLOGY_LONG_POLL_MAX_SECONDS) and answers as soon as a request appears. Listing claims
    nothing: claim with update-status `processing`."""

    @extend_schema(
        tags=[WORKER_TAG],
        parameters=[
            OpenApiParameter("limit", int, description="1-50, default 10"),
            OpenApiParameter("wait", int, description="long-poll seconds, 0 to PATHOLOGY_LONG_POLL_MAX_SECONDS"),
            OpenApiParameter(
                "sources",
                str,
                description="what this worker can open, comma-separated: file (its slide storage), orthanc, "
                "upload (downloads uploaded slides); only requests it can open are listed. Absent: all.",
            ),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        limit = parse_bounded_int(request, "limit", default=10, minimum=1, maximum=50)
        wait = parse_bounded_int(
            request, "wait", default=0, minimum=0, maximum=settings.PATHOLOGY_LONG_POLL_MAX_SECONDS
        )
        sources = parse_sources(request)
        self.worker(request)
        rows = protocol.requests_claimable(limit=limit, wait=wait, sources=sources)
        data = PendingRequestSerializer(rows, many=True).data
        return Response({"success": True, "count": len(data), "requests": data})


class UpdateStatusView(WorkerView):
    """Report on a request. The first `processing` claims it (exactly one worker wins; the others get 409
    with the holder); later reports from the holder renew its lease (PATHOLOGY_LEASE_SECONDS) and record
    progress; `failed` ends it with `message` as the error; `pending` hands it back to the queue (the attempt
    counts; once max_attempts are used it fails instead). 409 `request_cancelled` tells the holder to stop."""

    @extend_schema(
        tags=[WORKER_TAG], request=UpdateStatusSerializer, responses={200: OpenApiTypes.OBJECT, 409: CONFLICT}
    )
    def post(self, request, request_id):
        params = UpdateStatusSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        updated = protocol.request_update_status(
            worker=self.worker(request), request_id=request_id, **params.validated_data
        )
        return Response({"success": True, "request": PathologyRequestSerializer(updated).data})


class CompleteRequestView(WorkerView):
    """Upload the result of a request this worker holds: `result` JSON and a PNG heatmap (multipart
    `heatmap`, or `heatmap_base64` in JSON). Sending the same completion again answers 200 with
    `stored: false`; a worker that does not hold the request gets 409."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        tags=[WORKER_TAG],
        request={"multipart/form-data": CompleteRequestSerializer, "application/json": CompleteRequestSerializer},
        responses={200: OpenApiTypes.OBJECT, 409: CONFLICT},
    )
    def post(self, request, request_id):
        params = CompleteRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        result = result_validate(data["result"])
        done, stored = protocol.request_complete(
            worker=self.worker(request),
            request_id=request_id,
            result=result,
            heatmap=heatmap_decode(upload=data.get("heatmap"), encoded=data.get("heatmap_base64")),
            thumbnail=thumbnail_decode(upload=data.get("thumbnail"), encoded=data.get("thumbnail_base64")),
            tiles=tiles_decode(
                uploads=data.get("tiles"), encoded=data.get("tiles_base64"), regions=len(result.get("top_regions", []))
            ),
        )
        return Response({"success": True, "stored": stored, "request": PathologyRequestSerializer(done).data})


def _image_response(name: str, missing: str) -> FileResponse:
    """A stored image of a request, with its type by its signature. The
    name is ours (see protocol._images_save), never a requester's."""
    if not name or not default_storage.exists(name):
        raise NotFound(missing)
    handle = default_storage.open(name, "rb")
    kind = image_kind(handle.read(8))
    handle.seek(0)
    response = FileResponse(handle, content_type=CONTENT_TYPES.get(kind, "application/octet-stream"))
    # The images of a request never change once it has completed.
    response["Cache-Control"] = "private, max-age=3600"
    return response


class SlideDownloadView(WorkerView):
    """The uploaded slide of a request this worker holds, for a worker
    without the server's slide storage on its disk (streamed; 409 when it does
    not hold the request, 404 when the request has no uploaded slide)."""

    @extend_schema(
        tags=[WORKER_TAG], responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 404: None, 409: CONFLICT}
    )
    def get(self, request, request_id):
        handle, name, size = slides.slide_open(worker=self.worker(request), request_id=request_id)
        response = FileResponse(handle, as_attachment=True, filename=name, content_type="application/octet-stream")
        response["Content-Length"] = str(size)
        return response


@extend_schema_view(list=extend_schema(tags=[TAG]), retrieve=extend_schema(tags=[TAG]))
class PathologyRequestViewSet(viewsets.ReadOnlyModelViewSet):
    """Analysis requests, newest first. A user sees the requests they made; staff see all."""

    serializer_class = PathologyRequestSerializer
    filterset_class = PathologyRequestFilterSet

    def get_queryset(self):
        return selectors.requests_visible_to(self.request.user)

    def get_permissions(self):
        return [IsStaff()] if self.action == "requeue" else [ScopedAccess()]

    @extend_schema(tags=[TAG], request=None, responses={200: PathologyRequestSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a pending or running request (its requester, or staff)."""
        return Response(PathologyRequestSerializer(requests.request_cancel(request=self.get_object())).data)

    @extend_schema(tags=[TAG], request=None, responses={200: PathologyRequestSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def requeue(self, request, pk=None):
        """Put a failed, cancelled or stuck request back in the queue, attempts reset (staff)."""
        return Response(PathologyRequestSerializer(requests.request_requeue(request=self.get_object())).data)

    @extend_schema(tags=[TAG], responses={(200, "image/png"): OpenApiTypes.BINARY, 404: None})
    @action(detail=True, methods=["get"])
    def heatmap(self, request, pk=None):
        """The heatmap PNG of a completed request (RGBA: lay it over the thumbnail)."""
        found = self.get_object()
        return _image_response(found.heatmap.name, _("This request has no heatmap."))

    @extend_schema(tags=[TAG], responses={(200, "image/jpeg"): OpenApiTypes.BINARY, 404: None})
    @action(detail=True, methods=["get"])
    def thumbnail(self, request, pk=None):
        """The slide's thumbnail, the size of the heatmap."""
        found = self.get_object()
        return _image_response(found.thumbnail.name, _("This request has no thumbnail."))

    @extend_schema(
        tags=[TAG],
        parameters=[OpenApiParameter("n", int, OpenApiParameter.PATH, description="0: the top region")],
        responses={(200, "image/jpeg"): OpenApiTypes.BINARY, 404: None},
    )
    @action(detail=True, methods=["get"], url_path=r"tiles/(?P<n>[0-9]{1,3})", url_name="tile")
    def tiles(self, request, pk=None, n=None):
        """The image tile of top region `n` (result.top_regions[n])."""
        found = self.get_object()
        names = found.tiles or []
        return _image_response(names[int(n)] if int(n) < len(names) else "", _("This request has no such tile."))


@extend_schema_view(list=extend_schema(tags=[TAG]), retrieve=extend_schema(tags=[TAG]))
class InferenceWorkerViewSet(viewsets.ReadOnlyModelViewSet):
    """Workers with when they were last seen and what they hold (staff)."""

    queryset = InferenceWorker.objects.all()
    serializer_class = InferenceWorkerSerializer
    permission_classes = [IsStaff]
