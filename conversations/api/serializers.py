from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import serializers

from ..choices import Rating
from ..models import ConversationLog, Document
from ..selectors import LOG_FIELDS, LOG_LIST_FIELDS
from ..services.logs import FEEDBACK_TAG_MAX_CHARS, FEEDBACK_TAGS_MAX


class _LogRowSerializer(serializers.ModelSerializer):
    """A ModelSerializer (it describes the fields in the OpenAPI schema)
    that writes a log directly: every field is already in its JSON form but
    the times, which are written as DRF's DateTimeField writes them (in the
    current time zone). DRF's field-by-field path would cost more than the
    query of a page, and about a millisecond of each chat answer.
    Takes a model instance or a `.values()` row."""

    def to_representation(self, instance):
        fields, times = self._plan()
        get = instance.__getitem__ if isinstance(instance, dict) else instance.__getattribute__
        row = {name: get(name) for name in fields}
        zone = timezone.get_current_timezone()
        for name in times:
            if row[name] is not None:
                text = row[name].astimezone(zone).isoformat()
                row[name] = text[:-6] + "Z" if text.endswith("+00:00") else text
        return row

    @classmethod
    def _plan(cls):
        if "_fields" not in cls.__dict__:
            cls._fields = tuple(cls.Meta.fields)
            cls._times = tuple(
                name for name in cls._fields if isinstance(ConversationLog._meta.get_field(name), models.DateTimeField)
            )
        return cls._fields, cls._times


class ConversationLogSerializer(_LogRowSerializer):
    """A whole log: the detail, the feedback answer and the chat answer."""

    class Meta:
        model = ConversationLog
        fields = LOG_FIELDS
        read_only_fields = fields


class ConversationLogListSerializer(_LogRowSerializer):
    """A log as the list shows it; the detail adds the error message, the
    sources and the feedback tags."""

    class Meta:
        model = ConversationLog
        fields = LOG_LIST_FIELDS
        read_only_fields = fields


class RagChatRequestSerializer(serializers.Serializer):
    # Lengths and emptiness are checked by the service, which names the limit.
    question = serializers.CharField(allow_blank=True, trim_whitespace=False)
    user_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    session_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    top_k = serializers.IntegerField(required=False, allow_null=True)
    stream = serializers.BooleanField(default=False)


class FeedbackSerializer(serializers.Serializer):
    rating = serializers.ChoiceField(choices=Rating.choices)
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    tags = serializers.ListField(
        child=serializers.CharField(max_length=FEEDBACK_TAG_MAX_CHARS),
        required=False,
        default=list,
        max_length=FEEDBACK_TAGS_MAX,
        help_text="Reason tags, for example 부정확, 출처없음, helpful.",
    )


class DocumentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Document
        fields = (
            "id",
            "title",
            "source",
            "format",
            "status",
            "error",
            "chunk_count",
            "size_bytes",
            "sha256",
            "created_at",
            "indexed_at",
        )
        read_only_fields = fields


class DocumentDetailSerializer(DocumentSerializer):
    class Meta(DocumentSerializer.Meta):
        fields = (*DocumentSerializer.Meta.fields, "text")
        read_only_fields = fields


class DocumentCreateSerializer(serializers.Serializer):
    """Either a file (multipart: .txt, .md or .jsonl) or a title and text."""

    file = serializers.FileField(required=False)
    title = serializers.CharField(required=False, allow_blank=True, max_length=255)
    text = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)

    def validate(self, attrs):
        if attrs.get("file") is None and not (attrs.get("text") or "").strip():
            raise serializers.ValidationError({"file": [_("Send a file, or a title and text.")]})
        return attrs


class DocumentUploadResultSerializer(serializers.Serializer):
    created = DocumentSerializer(many=True)
    existing = DocumentSerializer(many=True)
    rejected = serializers.ListField(child=serializers.DictField())
