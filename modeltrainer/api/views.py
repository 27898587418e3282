"""The seed's endpoints under /api/model/ (status, predict, train,
logs/recent, upload, analyze-log, metrics) and REST viewsets of versions and
examples. Reads and predictions: any user or `service` key. Writes
(training data, training, activation, deletion): staff, or a `model:train`
key."""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from aiplatform.api.pagination import parse_bounded_int
from aiplatform.api.permissions import ScopedAccess, StaffOrScopedKey
from aiplatform.choices import APIKeyScope
from aiplatform.errors import InvalidInput
from conversations.selectors import logs_rated

from .. import selectors
from ..choices import ExampleSource
from ..filtersets import ModelVersionFilterSet, TrainingExampleFilterSet
from ..models import ModelVersion, TrainingExample
from ..services import analysis, examples, training, versions
from .serializers import (
    AnalyzeRequestSerializer,
    ImportConversationsSerializer,
    ImportReportSerializer,
    ModelVersionSerializer,
    PredictionSerializer,
    PredictRequestSerializer,
    TrainingExampleSerializer,
    TrainRequestSerializer,
    UploadRequestSerializer,
)

TAG = "model"
NO_MODEL = OpenApiResponse(description="No model is trained and active yet, or its file failed its checksum.")


class TrainerWriteMixin:
    def get_permissions(self):
        return [StaffOrScopedKey(scopes=(APIKeyScope.MODEL_TRAIN,))]


class StatusView(APIView):
    """Server and model state: the active version and its metrics, a training in progress, examples per
    label (`log_count` is their total, as the seed named it), and the version this process serves."""

    @extend_schema(tags=[TAG], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response(selectors.trainer_status())


class PredictView(APIView):
    """Classify `{"text"}` (answer `{"prediction", "label", "confidence", "abstained", "min_confidence",
    "probabilities", "version"}`) or `{"texts": [...]}` (answer `{"predictions": [...], "version"}`).
    Below MODEL_MIN_CONFIDENCE the model abstains: `prediction` is "unknown", `abstained` true, and `label`
    and the probabilities still say what it leaned to."""

    @extend_schema(
        tags=[TAG],
        request=PredictRequestSerializer,
        responses={200: PredictionSerializer, 503: NO_MODEL},
    )
    def post(self, request):
        params = PredictRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        number, rows = analysis.texts_predict(texts=params.validated_data["texts"])
        if params.validated_data["many"]:
            return Response({"predictions": rows, "version": number})
        return Response(rows[0])


class AnalyzeLogView(APIView):
    """Analyse one log: prediction ("unknown" when the model abstains, as for predict), confidence, the terms
    that pushed the decision most (and against it), and a short comment in Korean (`lang: "en"` for English)."""

    @extend_schema(tags=[TAG], request=AnalyzeRequestSerializer, responses={200: OpenApiTypes.OBJECT, 503: NO_MODEL})
    def post(self, request):
        params = AnalyzeRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        return Response(analysis.log_analyze(**params.validated_data))


class TrainView(TrainerWriteMixin, APIView):
    """Queue a training on all stored examples (202 with the version to poll). While one is queued or
    training, that one is returned (`created: false`). A failed training never replaces the active model.
    `activate`: `if_better` (or `true`; the default) activates a successful version unless its held-out
    macro F1 is worse than the active version's by more than MODEL_ACTIVATE_TOLERANCE (the first version
    always becomes active), `always` whatever its metrics, `never` (or `false`) not at all. The version's
    `activation` says what was decided and why. 409 when there is not enough data."""

    @extend_schema(tags=[TAG], request=TrainRequestSerializer, responses={202: ModelVersionSerializer})
    def post(self, request):
        params = TrainRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        version, created = training.model_version_train(triggered_by=request.user, **params.validated_data)
        body = {**ModelVersionSerializer(version).data, "created": created}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class RecentExamplesView(APIView):
    """The most recent training examples (`limit`, default 5 as in the seed, at most 100)."""

    @extend_schema(
        tags=[TAG],
        parameters=[OpenApiParameter("limit", int, description="1-100, default 5")],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        limit = parse_bounded_int(
            request, "limit", default=selectors.RECENT_DEFAULT, minimum=1, maximum=selectors.RECENT_MAX
        )
        rows = TrainingExampleSerializer(selectors.examples_recent(limit=limit), many=True).data
        return Response({"recent": rows})


class UploadView(TrainerWriteMixin, APIView):
    """Add labelled examples: a file (.json list, .jsonl or .csv with text and label columns, size-limited)
    as multipart `file`, or JSON `{"examples": [...]}` or a plain JSON list. Every row is validated; the
    answer counts accepted rows and duplicates and lists rejected rows with the field and reason."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        tags=[TAG],
        request={"multipart/form-data": UploadRequestSerializer, "application/json": UploadRequestSerializer},
        responses={201: ImportReportSerializer, 400: OpenApiResponse(description="No row could be stored.")},
    )
    def post(self, request):
        if isinstance(request.data, list):
            rows = list(enumerate(request.data, start=1))
        else:
            params = UploadRequestSerializer(data=request.data)
            params.is_valid(raise_exception=True)
            upload = params.validated_data.get("file")
            if upload is not None:
                file_format = examples.upload_format(upload.name)
                rows = examples.examples_parse(data=upload.read(), file_format=file_format)
            elif "examples" in params.validated_data:
                rows = list(enumerate(params.validated_data["examples"], start=1))
            else:
                raise exceptions.ValidationError({"file": [_("Send a file, or examples as JSON.")]})
        report = examples.examples_add(rows=rows, source=ExampleSource.UPLOAD, created_by=request.user)
        body = report.as_dict()
        if not report.accepted and not report.duplicates:
            raise InvalidInput(
                _("No row could be stored: see `report.rejected`."),
                field="examples",
                code="no_valid_rows",
                extra={"report": body},
            )
        return Response(body, status=status.HTTP_201_CREATED if report.accepted else status.HTTP_200_OK)


class ImportConversationsView(TrainerWriteMixin, APIView):
    """Turn rated conversation logs into examples: rating +1 becomes `label_up`, -1 `label_down`; the text
    is the question, the answer or both. Logs already imported are skipped, so this can be repeated."""

    @extend_schema(tags=[TAG], request=ImportConversationsSerializer, responses={201: ImportReportSerializer})
    def post(self, request):
        params = ImportConversationsSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        rating = {"up": 1, "down": -1, "both": None}[data["rating"]]
        rows = logs_rated(
            rating=rating, date_from=data.get("date_from"), date_to=data.get("date_to"), limit=data.get("limit")
        )
        report = examples.examples_import_conversations(
            logs=rows,
            text_field=data["text_field"],
            label_up=data["label_up"],
            label_down=data["label_down"],
            created_by=request.user,
        )
        return Response(report.as_dict(), status=status.HTTP_201_CREATED if report.accepted else status.HTTP_200_OK)


class MetricsView(APIView):
    """Metrics of every finished version over time (accuracy, macro and weighted F1, per-label F1), and the
    examples per label and source. `chart` is a page that draws them."""

    @extend_schema(tags=[TAG], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response({**selectors.metrics_history(), "chart": "/model/metrics/"})


@extend_schema_view(
    list=extend_schema(tags=[TAG]),
    retrieve=extend_schema(tags=[TAG]),
    destroy=extend_schema(tags=[TAG], summary="Delete an inactive version and its file (staff or model:train key)"),
)
class ModelVersionViewSet(mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    """Trained model versions, newest first, with their metrics and lineage."""

    queryset = ModelVersion.objects.select_related("triggered_by")
    serializer_class = ModelVersionSerializer
    filterset_class = ModelVersionFilterSet

    def get_permissions(self):
        if self.action in ("destroy", "activate"):
            return [StaffOrScopedKey(scopes=(APIKeyScope.MODEL_TRAIN,))]
        return [ScopedAccess()]

    def perform_destroy(self, instance):
        versions.model_version_delete(version=instance)

    @extend_schema(tags=[TAG], request=None, responses=ModelVersionSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        """Serve this version (rolling back when it is older); every server process switches within seconds."""
        version = versions.model_version_activate(version=self.get_object())
        return Response(ModelVersionSerializer(version).data)

    @extend_schema(
        tags=[TAG],
        parameters=[
            OpenApiParameter("with", int, description="The id of the version to compare with; default the active one.")
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"])
    def compare(self, request, pk=None):
        """This version beside another (by default the active one): accuracy, macro and weighted F1 and each
        label's F1 of both, and the differences (this minus the other; positive is better)."""
        # Not get_object(): the version filters would refuse `with` as an unknown filter.
        version = get_object_or_404(self.get_queryset(), pk=pk)
        self.check_object_permissions(request, version)
        raw = request.query_params.get("with")
        if raw in (None, ""):
            against = ModelVersion.objects.filter(active=True).first()
        else:
            against_id = parse_bounded_int(request, "with", default=0, minimum=1, maximum=2**62)
            against = ModelVersion.objects.filter(pk=against_id).first()
            if against is None:
                raise exceptions.ValidationError({"with": [_("No model version has this id.")]})
        return Response(selectors.versions_compare(version=version, against=against))


@extend_schema_view(
    list=extend_schema(tags=[TAG]),
    retrieve=extend_schema(tags=[TAG]),
    create=extend_schema(tags=[TAG], summary="Add one example (staff or model:train key)"),
    destroy=extend_schema(tags=[TAG], summary="Delete an example (staff or model:train key)"),
)
class TrainingExampleViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    """Labelled training examples, newest first; filter by label, source, creation time or text."""

    queryset = TrainingExample.objects.all()
    serializer_class = TrainingExampleSerializer
    filterset_class = TrainingExampleFilterSet

    def get_permissions(self):
        if self.action in ("create", "destroy"):
            return [StaffOrScopedKey(scopes=(APIKeyScope.MODEL_TRAIN,))]
        return [ScopedAccess()]

    def perform_create(self, serializer):
        serializer.instance = examples.example_create(
            text=serializer.validated_data["text"],
            label=serializer.validated_data["label"],
            source=ExampleSource.ADMIN,
            created_by=self.request.user,
        )
