from rest_framework import serializers

from ..choices import Rating
from ..models import ConversationLog, Document
from ..selectors import LOG_LIST_FIELDS
from ..services.logs import FEEDBACK_TAG_MAX_CHARS, FEEDBACK_TAGS_MAX


class ConversationLogSerializer(serializers.ModelSerializer):
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
            raise serializers.ValidationError({"file": ["Send a file, or a title and text."]})
        return attrs


class DocumentUploadResultSerializer(serializers.Serializer):
    created = DocumentSerializer(many=True)
    existing = DocumentSerializer(many=True)
    rejected = serializers.ListField(child=serializers.DictField())
