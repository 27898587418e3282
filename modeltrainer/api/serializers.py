from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import selectors
from ..choices import ActivationRequest, Algorithm, ImportRating, Tokenizer
from ..models import ModelVersion, TrainingExample
from ..services.versions import activation_request_parse


def _text_checked(value, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise serializers.ValidationError({field: [_("Missing or empty text.")]})
    if len(value) > settings.MODEL_TEXT_MAX_CHARS:
        raise serializers.ValidationError(
            {field: [_("Longer than %(n)d characters.") % {"n": settings.MODEL_TEXT_MAX_CHARS}]}
        )
    return value


class PredictRequestSerializer(serializers.Serializer):
    text = serializers.JSONField(required=False, help_text="One text (the seed's request).")
    texts = serializers.JSONField(required=False, help_text="Several texts, predicted in one call.")

    def validate(self, attrs):
        if "texts" in attrs:
            texts = attrs["texts"]
            limit = settings.MODEL_PREDICT_MAX_TEXTS
            if not isinstance(texts, list) or not texts:
                raise serializers.ValidationError({"texts": [_("A non-empty list of texts.")]})
            if len(texts) > limit:
                raise serializers.ValidationError({"texts": [_("At most %(n)d texts.") % {"n": limit}]})
            return {"texts": [_text_checked(value, f"texts.{i}") for i, value in enumerate(texts)], "many": True}
        return {"texts": [_text_checked(attrs.get("text"), "text")], "many": False}


class PredictionSerializer(serializers.Serializer):
    prediction = serializers.CharField(
        help_text='The label (the seed\'s field), or "unknown" when the model abstains (see `abstained`).'
    )
    label = serializers.CharField(help_text="The most probable label, also when the model abstains.")
    confidence = serializers.FloatField(help_text="The most probable label's probability.")
    abstained = serializers.BooleanField(help_text="True when `confidence` is below MODEL_MIN_CONFIDENCE.")
    min_confidence = serializers.FloatField(help_text="The threshold in force (MODEL_MIN_CONFIDENCE).")
    probabilities = serializers.DictField(child=serializers.FloatField())
    version = serializers.IntegerField()


class AnalyzeRequestSerializer(serializers.Serializer):
    text = serializers.JSONField()
    lang = serializers.ChoiceField(choices=["ko", "en"], default="ko", help_text="Language of the comment.")
    top = serializers.IntegerField(min_value=1, max_value=30, default=8)

    def validate_text(self, value):
        return _text_checked(value, "text")


@extend_schema_field(
    {"oneOf": [{"type": "boolean"}, {"type": "string", "enum": list(ActivationRequest.values)}], "default": "if_better"}
)
class ActivateField(serializers.Field):
    """true (= "if_better"), false (= "never"), or "if_better", "always",
    "never"; form posts may send "true"/"false"."""

    default_error_messages = {"invalid": _("One of: true, false, if_better, always, never.")}

    def to_internal_value(self, data):
        if isinstance(data, str) and data.lower() in ("true", "false"):
            data = data.lower() == "true"
        try:
            return activation_request_parse(data)
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value):
        return value


class TrainRequestSerializer(serializers.Serializer):
    algorithm = serializers.ChoiceField(choices=Algorithm.choices, required=False)
    tokenizer = serializers.ChoiceField(choices=Tokenizer.choices, required=False)
    params = serializers.DictField(required=False, help_text="C, max_iter, alpha, min_df, max_features.")
    activate = ActivateField(
        default=ActivationRequest.IF_BETTER,
        help_text=(
            "When the version is ready: `if_better` (also `true`, the default) activates it unless its held-out "
            "macro F1 is worse than the active version's by more than MODEL_ACTIVATE_TOLERANCE (the first "
            "version always becomes active); `always` activates it whatever its metrics; `never` (also `false`) "
            "leaves it for activation by hand."
        ),
    )


class UploadRequestSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text=".json (a list), .jsonl or .csv of {text, label}.")
    examples = serializers.ListField(
        child=serializers.JSONField(), required=False, help_text="Or the rows themselves: [{text, label}, ...]."
    )


class ImportReportSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected_count = serializers.IntegerField()
    rejected = serializers.ListField(child=serializers.DictField(), help_text="{row, field, reason}, at most 200.")


class ImportConversationsSerializer(serializers.Serializer):
    rating = serializers.ChoiceField(choices=ImportRating.choices, default=ImportRating.BOTH)
    text_field = serializers.ChoiceField(choices=["question", "answer", "both"], default="question")
    label_up = serializers.CharField(max_length=64, default="helpful")
    label_down = serializers.CharField(max_length=64, default="unhelpful")
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)


class TrainingExampleSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrainingExample
        fields = ["id", "text", "label", "source", "conversation_log", "created_at"]
        read_only_fields = ["id", "source", "conversation_log", "created_at"]


class ActivationSerializer(serializers.Serializer):
    requested = serializers.ChoiceField(choices=ActivationRequest.choices)
    requested_label = serializers.CharField()
    result = serializers.CharField(
        help_text="pending, activated, kept_active_v<N> (v<N> stayed active), not_requested, training_failed, "
        "activation_failed; empty for versions trained before decisions were recorded."
    )
    result_label = serializers.CharField()
    code = serializers.CharField(required=False, help_text="Why, as a code (no_active, not_worse, worse, forced...).")
    reason = serializers.CharField(help_text="Why, in the request's language.")
    macro_f1 = serializers.FloatField(required=False, allow_null=True)
    active_macro_f1 = serializers.FloatField(required=False, allow_null=True)
    compared_with = serializers.IntegerField(required=False, allow_null=True)
    delta = serializers.FloatField(required=False)
    tolerance = serializers.FloatField(required=False)


class ModelVersionSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)
    triggered_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    activation = serializers.SerializerMethodField()

    @extend_schema_field(ActivationSerializer)
    def get_activation(self, version) -> dict:
        return selectors.activation_view(version)

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "number",
            "status",
            "status_label",
            "active",
            "activation_requested",
            "activation",
            "algorithm",
            "tokenizer",
            "params",
            "metrics",
            "labels",
            "example_count",
            "train_count",
            "test_count",
            "data_fingerprint",
            "example_id_min",
            "example_id_max",
            "artifact",
            "artifact_sha256",
            "artifact_size",
            "trigger",
            "triggered_by",
            "progress",
            "stage",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "duration_s",
            "activated_at",
        ]
        read_only_fields = fields
