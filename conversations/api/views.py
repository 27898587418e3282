from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from aiplatform.api.filters import StrictDjangoFilterBackend
from aiplatform.api.pagination import StandardCursorPagination, parse_bounded_int
from aiplatform.api.permissions import IsStaff, ScopedAccess
from aiplatform.api.serializers import TaskResultSerializer
from aiplatform.streaming import streaming_response

from .. import export, search, selectors, stats
from ..filtersets import ConversationLogFilterSet, filter_parameters
from ..models import Document
from ..services import chat, documents, logs
from .serializers import (
    ConversationLogListSerializer,
    ConversationLogSerializer,
    DocumentCreateSerializer,
    DocumentDetailSerializer,
    DocumentSerializer,
    DocumentUploadResultSerializer,
    FeedbackSerializer,
    RagChatRequestSerializer,
)

SSE_DESCRIPTION = (
    "With `stream: true` the answer is sent as server-sent events: `sources`, then `delta` events "
    '(`{"text": ...}`), then `done` with the stored log, or `error`. The log is stored when the stream ends '
    "or the client disconnects (status `interrupted`)."
)


class RagChatView(APIView):
    """Ask the knowledge base. Every question is stored with its answer, sources, tokens and latency; when
    generation fails the question is stored with status `failed` and the reply is 503 or 504 (`log_id` in
    the error body)."""

    @extend_schema(
        tags=["conversations"],
        request=RagChatRequestSerializer,
        responses={
            200: OpenApiResponse(ConversationLogSerializer, description=SSE_DESCRIPTION),
            503: OpenApiResponse(description="The chat model is unavailable."),
            504: OpenApiResponse(description="The chat model timed out."),
        },
    )
    def post(self, request):
        params = RagChatRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        wants_stream = data.pop("stream")
        if wants_stream:
            events = chat.rag_chat_stream(account=request.user, **data)
            return streaming_response(request, events, content_type="text/event-stream")
        log = chat.rag_chat(account=request.user, **data)
        return Response(ConversationLogSerializer(log).data)


class VisibleLogsMixin:
    def get_queryset(self):
        return selectors.logs_visible_to(self.request.user)


@extend_schema_view(
    list=extend_schema(
        tags=["conversations"],
        summary="Logs, newest first (cursor pagination, or `offset`; `limit` 1-1000)",
        description="Rows leave out the error message, the sources and the feedback tags: read them in the detail.",
    ),
    retrieve=extend_schema(tags=["conversations"]),
    destroy=extend_schema(tags=["conversations"], summary="Delete a log (staff)"),
)
class ConversationLogViewSet(VisibleLogsMixin, mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    """Conversation logs. A user sees the logs of their own account; staff see all."""

    serializer_class = ConversationLogSerializer
    filter_backends = [StrictDjangoFilterBackend, OrderingFilter]
    filterset_class = ConversationLogFilterSet
    ordering_fields = ["created_at", "latency_ms", "id"]
    pagination_class = StandardCursorPagination
    # The search's match id is the log id: an offset page needs no tie-breaker.
    unique_ordering_fields = (search.MATCH_ID,)

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "list":
            # A page is plain rows of the list's columns: no model instances,
            # no JSON to decode.
            return queryset.values(*selectors.LOG_LIST_FIELDS)
        return queryset.only(*selectors.LOG_FIELDS)

    def get_serializer_class(self):
        return ConversationLogListSerializer if self.action == "list" else ConversationLogSerializer

    @property
    def ordering(self):
        # A search lists the newest matches in the order its index holds them
        # (conversations.search); anything else lists by time.
        request = getattr(self, "request", None)
        if request is not None and request.query_params.get("q", "").strip():
            return [f"-{search.MATCH_ID}"]
        return ["-created_at"]

    def get_permissions(self):
        return [IsStaff()] if self.action == "destroy" else [ScopedAccess()]

    def perform_destroy(self, instance):
        logs.log_delete(log=instance)

    @extend_schema(tags=["conversations"], request=FeedbackSerializer, responses=ConversationLogSerializer)
    @action(detail=True, methods=["post"])
    def feedback(self, request, pk=None):
        """Rate an answer +1 or -1, with an optional comment and reason tags; posting again replaces it."""
        log = self.get_object()
        params = FeedbackSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        log = logs.log_feedback_set(log=log, **params.validated_data)
        return Response(ConversationLogSerializer(log).data)

    @extend_schema(
        tags=["conversations"],
        summary="Export the filtered logs (streamed)",
        parameters=[OpenApiParameter("file_format", str, OpenApiParameter.PATH, enum=["csv", "jsonl"])],
        responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/x-ndjson"): OpenApiTypes.STR},
    )
    @action(detail=False, methods=["get"], url_path=r"export/(?P<file_format>csv|jsonl)", pagination_class=None)
    def export(self, request, file_format=None):
        return export.logs_export_response(request, self.filter_queryset(self.get_queryset()), file_format)


class ConversationStatsView(VisibleLogsMixin, APIView):
    """Counts per day and per user, top keywords, latency p50/p95, failure rate and feedback ratio of the
    logs matching the same filters as the log list. `source` says whether the figures came from the daily
    rollups or were aggregated over the matching logs."""

    filter_backends = [StrictDjangoFilterBackend]
    filterset_class = ConversationLogFilterSet
    extra_query_params = ("top",)

    @extend_schema(
        tags=["conversations"],
        parameters=[*filter_parameters(), OpenApiParameter("top", int, description="List lengths (1-100).")],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        top = parse_bounded_int(request, "top", default=stats.TOP, minimum=1, maximum=100)
        backend = StrictDjangoFilterBackend()
        backend.reject_unknown_params(request, self.get_queryset(), self)
        filterset = backend.get_filterset(request, self.get_queryset(), self)
        if not filterset.is_valid():
            raise exceptions.ValidationError(filterset.errors)
        filters = {name: value for name, value in filterset.form.cleaned_data.items() if value not in (None, "")}
        body = stats.log_stats(
            queryset=filterset.qs, filters=filters, sees_all=selectors.sees_all_logs(request.user), top=top
        )
        return Response(body)


@extend_schema_view(
    list=extend_schema(tags=["conversations"]),
    retrieve=extend_schema(tags=["conversations"]),
    destroy=extend_schema(tags=["conversations"], summary="Delete a document, its chunks and vectors (staff)"),
)
class DocumentViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    """The RAG knowledge base. Upload a .txt, .md or .jsonl file (one document per line, `{"text", "title"?}`)
    or send a title and text; chunks are embedded and indexed by a background task (status `pending` then
    `indexed`)."""

    queryset = Document.objects.select_related("created_by")
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_serializer_class(self):
        if self.action == "create":
            return DocumentCreateSerializer
        return DocumentDetailSerializer if self.action == "retrieve" else DocumentSerializer

    def get_permissions(self):
        return [IsStaff()] if self.action in ("destroy", "reindex") else [ScopedAccess()]

    @extend_schema(
        tags=["conversations"],
        request={"multipart/form-data": DocumentCreateSerializer, "application/json": DocumentCreateSerializer},
        responses={201: DocumentUploadResultSerializer},
    )
    def create(self, request, *args, **kwargs):
        params = DocumentCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        upload = params.validated_data.get("file")
        if upload is not None:
            data = upload.read(settings.RAG_DOCUMENT_MAX_BYTES + 1)
            parsed, rejected = documents.documents_parse(name=upload.name, data=data)
        else:
            title = params.validated_data.get("title") or ""
            if not title.strip():
                raise exceptions.ValidationError({"title": [_("Title is required with text.")]})
            parsed = [documents.ParsedDocument(title=title, text=params.validated_data["text"], format="text")]
            rejected = []
        created, existing = [], []
        for item in parsed:
            document, is_new = documents.document_create(
                title=item.title, text_content=item.text, doc_format=item.format, created_by=request.user
            )
            (created if is_new else existing).append(document)
        body = {
            "created": DocumentSerializer(created, many=True).data,
            "existing": DocumentSerializer(existing, many=True).data,
            "rejected": [{"line": r.line, "reason": r.reason} for r in rejected],
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    def perform_destroy(self, instance):
        documents.document_delete(document=instance)

    @extend_schema(tags=["conversations"], request=None, responses={202: TaskResultSerializer})
    @action(detail=False, methods=["post"])
    def reindex(self, request):
        """Rebuild the vector index from the stored chunks (staff); runs as a background task, polled at
        /api/system/tasks/{task_id}/."""
        from ..tasks import rebuild_vector_index

        result = rebuild_vector_index.enqueue()
        return Response(TaskResultSerializer(result).data, status=status.HTTP_202_ACCEPTED)
