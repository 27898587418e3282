from django.contrib import admin, messages
from django.contrib.admin.views.main import ORDER_VAR
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import export, search
from .models import ConversationLog, Document, DocumentChunk
from .services import documents, logs


@admin.action(description=_("Export the selected logs as CSV"))
def export_csv(modeladmin, request, queryset):
    return export.logs_export_response(request, queryset, "csv")


@admin.action(description=_("Export the selected logs as JSONL"))
def export_jsonl(modeladmin, request, queryset):
    return export.logs_export_response(request, queryset, "jsonl")


@admin.register(ConversationLog)
class ConversationLogAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "user_id", "short_question", "status", "provider", "latency_ms", "rating")
    list_filter = ("status", "provider", "rating", "streamed", ("account", admin.RelatedOnlyFieldListFilter))
    # Searched by get_search_results (conversations.search), not by LIKE on these.
    search_fields = ("question", "answer")
    search_help_text = _(
        "Words of the question or answer, as the API's q searches them (로그 finds 로그를 and 대화로그, "
        "export finds exported), or an exact end-user or session id."
    )
    date_hierarchy = "created_at"
    list_select_related = ("account",)
    show_full_result_count = False  # COUNT(*) over a million rows on every page is not worth it
    actions = [export_csv, export_jsonl]
    fieldsets = (
        (None, {"fields": ("account", "user_id", "session_id", "status", "created_at")}),
        (_("Conversation"), {"fields": ("question", "answer", "sources")}),
        (
            _("Execution"),
            {
                "fields": (
                    "provider",
                    "model",
                    "streamed",
                    "top_k",
                    "latency_ms",
                    "retrieval_ms",
                    "prompt_tokens",
                    "completion_tokens",
                    "error",
                    "error_code",
                )
            },
        ),
        (_("Feedback"), {"fields": ("rating", "feedback_comment", "feedback_tags", "feedback_at")}),
    )

    @admin.display(description=_("question"))
    def short_question(self, obj):
        return obj.question[:60]

    def get_search_results(self, request, queryset, search_term):
        """The API's search (conversations.search) rather than the admin's
        LIKE '%word%', which finds neither 먹었다 for 먹다 nor uses an index.
        A term that is exactly an end-user or session id lists that user's
        or session's logs (the admin has no filter for those)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        by_id = queryset.filter(Q(user_id=term) | Q(session_id=term))
        if len(term) <= 64 and by_id.exists():
            results = by_id.annotate(**{search.MATCH_ID: F("pk")})
        else:
            results = search.logs_search(queryset, term)
        if ORDER_VAR not in request.GET:
            # Newest matches first, in the order the index holds them (a
            # page costs the same however common the term is).
            results = results.order_by(f"-{search.MATCH_ID}")
        return results, False

    def get_readonly_fields(self, request, obj=None):
        # A log is a record of what happened: nothing in it is edited by hand.
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        logs.log_delete(log=obj)

    def delete_queryset(self, request, queryset):
        for log in queryset.iterator():
            logs.log_delete(log=log)


class DocumentChunkInline(admin.TabularInline):
    model = DocumentChunk
    fields = ("position", "text", "embedding_model")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "source", "format", "status", "chunk_count", "size_bytes", "created_at")
    list_filter = ("status", "source", "format")
    search_fields = ("title",)
    # The text is fixed once chunked and embedded; documents are added by the
    # API upload or `manage.py ingest_documents`.
    readonly_fields = (
        "text",
        "format",
        "source",
        "sha256",
        "size_bytes",
        "chunk_count",
        "status",
        "error",
        "indexed_at",
        "created_by",
    )
    inlines = [DocumentChunkInline]
    actions = ["reindex"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Index the chunks of the selected documents not yet indexed"))
    def reindex(self, request, queryset):
        from .tasks import index_documents

        ids = list(queryset.values_list("pk", flat=True))
        index_documents.enqueue(document_ids=ids)
        message = ngettext(
            "Indexing of %(n)d document is scheduled.", "Indexing of %(n)d documents is scheduled.", len(ids)
        )
        self.message_user(request, message % {"n": len(ids)}, messages.SUCCESS)

    def delete_model(self, request, obj):
        documents.document_delete(document=obj)

    def delete_queryset(self, request, queryset):
        for document in queryset:
            documents.document_delete(document=document)
