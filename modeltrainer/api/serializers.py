from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..choices import Algorithm, ImportRating, Tokenizer
from ..models import ModelVersion, TrainingExample


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
    prediction = serializers.CharField(help_text="The label (the seed's field).")
    confidence = serializers.FloatField()
    probabilities = serializers.DictField(child=serializers.FloatField())
    version = serializers.IntegerField()


class AnalyzeRequestSerializer(serializers.Serializer):
    text = serializers.JSONField()
    lang = serializers.ChoiceField(choices=["ko", "en"], default="ko", help_text="Language of the comment.")
    top = serializers.IntegerField(min_value=1, max_value=30, default=8)

    def validate_text(self, value):
        return _text_checked(value, "text")


class TrainRequestSerializer(serializers.Serializer):
    algorithm = serializers.ChoiceField(choices=Algorithm.choices, required=False)
    tokenizer = serializers.ChoiceField(choices=Tokenizer.choices, required=False)
    params = serializers.DictField(required=False, help_text="C, max_iter, alpha, min_df, max_features.")
    activate = serializers.BooleanField(default=True, help_text="Activate the version when it is ready.")


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


class ModelVersionSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)
    triggered_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "number",
            "status",
            "active",
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
