from rest_framework import serializers

from ..models import SLIDE_REFERENCE_FIELDS, InferenceWorker, PathologyRequest
from ..services.results import error_explain


class SlideAnalysisRequestSerializer(serializers.Serializer):
    orthanc_instance_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    orthanc_series_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    slide_file = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        default="",
        help_text="A file name the worker finds in its slide directory.",
    )
    study_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    patient_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    priority = serializers.IntegerField(min_value=-100, max_value=100, default=0, help_text="Higher first.")
    slide = serializers.FileField(
        required=False,
        help_text="Upload the slide instead of naming one (multipart): SVS, TIFF, NDPI, SCN, BIF or DICOM, "
        "at most PATHOLOGY_UPLOAD_MAX_MB.",
    )


class PathologyRequestSerializer(serializers.ModelSerializer):
    request_id = serializers.UUIDField(source="pk", read_only=True)
    worker = serializers.SlugRelatedField(slug_field="name", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    heatmap_url = serializers.CharField(read_only=True, allow_null=True)
    thumbnail_url = serializers.CharField(read_only=True, allow_null=True)
    tile_urls = serializers.ListField(child=serializers.CharField(), read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    error_summary = serializers.SerializerMethodField(help_text="What went wrong, in plain words, translated.")

    def get_error_summary(self, request) -> str:
        return error_explain(request.error) if request.status == "failed" else ""

    class Meta:
        model = PathologyRequest
        fields = [
            "request_id",
            *SLIDE_REFERENCE_FIELDS,
            "slide_uploaded",
            "priority",
            "status",
            "status_display",
            "progress",
            "message",
            "worker",
            "attempts",
            "max_attempts",
            "lease_expires_at",
            "result",
            "heatmap_url",
            "thumbnail_url",
            "tile_urls",
            "error",
            "error_summary",
            "requested_by",
            "created_at",
            "claimed_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class PendingRequestSerializer(serializers.ModelSerializer):
    """What a worker needs to find and analyse a slide."""

    request_id = serializers.UUIDField(source="pk", read_only=True)

    class Meta:
        model = PathologyRequest
        fields = [
            "request_id",
            *SLIDE_REFERENCE_FIELDS,
            "slide_uploaded",
            "priority",
            "attempts",
            "max_attempts",
            "created_at",
        ]
        read_only_fields = fields


class UpdateStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["processing", "failed", "pending"],
        help_text="processing: claim or progress; failed: end with `message`; pending: hand back.",
    )
    progress = serializers.IntegerField(min_value=0, max_value=100, required=False)
    message = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class CompleteRequestSerializer(serializers.Serializer):
    result = serializers.JSONField(
        help_text='{"label", "probabilities": {...}, "top_regions": [...]} (a JSON string in multipart)'
    )
    heatmap = serializers.FileField(
        required=False, help_text="PNG, multipart: RGBA to lay over the thumbnail, or RGB drawn over the tissue."
    )
    heatmap_base64 = serializers.CharField(required=False, allow_blank=True, help_text="PNG as base64, in JSON.")
    thumbnail = serializers.FileField(required=False, help_text="The slide's thumbnail, JPEG or PNG, multipart.")
    thumbnail_base64 = serializers.CharField(required=False, allow_blank=True, help_text="As base64, in JSON.")
    tiles = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        help_text="JPEG or PNG tiles of the top regions, in the order of result.top_regions (multipart, repeated).",
    )
    tiles_base64 = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="The tiles as base64, in JSON."
    )


class InferenceWorkerSerializer(serializers.ModelSerializer):
    current_request = serializers.UUIDField(source="current_request_id", read_only=True)

    class Meta:
        model = InferenceWorker
        fields = ["id", "name", "host", "device", "version", "last_seen", "current_request", "created_at"]
        read_only_fields = fields
