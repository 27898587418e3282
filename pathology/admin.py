from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from aiplatform.admin import ReadOnlyRecordMixin
from aiplatform.errors import DomainError

from .models import SLIDE_REFERENCE_FIELDS, InferenceWorker, PathologyRequest
from .services import requests


def _each(modeladmin, request, queryset, service, done) -> None:
    count = 0
    for item in queryset:
        try:
            service(request=item)
            count += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{item.pk}: {exc.message}", messages.WARNING)
    if count:
        modeladmin.message_user(request, done % {"n": count})


@admin.action(description=gettext_lazy("Requeue the selected requests"))
def requeue(modeladmin, request, queryset):
    _each(modeladmin, request, queryset, requests.request_requeue, _("Requeued %(n)d requests."))


@admin.action(description=gettext_lazy("Cancel the selected requests"))
def cancel(modeladmin, request, queryset):
    _each(modeladmin, request, queryset, requests.request_cancel, _("Cancelled %(n)d requests."))


@admin.register(PathologyRequest)
class PathologyRequestAdmin(ReadOnlyRecordMixin, admin.ModelAdmin):
    list_display = (
        "short_id",
        "slide",
        "status",
        "progress_bar",
        "worker",
        "attempts",
        "priority",
        "requested_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "worker", "priority")
    search_fields = ("id", *SLIDE_REFERENCE_FIELDS)
    date_hierarchy = "created_at"
    list_select_related = ("worker", "requested_by")
    actions = [requeue, cancel]
    readonly_fields = [field.name for field in PathologyRequest._meta.fields] + ["heatmap_preview"]
    fieldsets = (
        (None, {"fields": ("id", "status", "progress", "message", "error", "priority", "requested_by")}),
        (gettext_lazy("Slide"), {"fields": (*SLIDE_REFERENCE_FIELDS, "slide_uploaded")}),
        (
            gettext_lazy("Processing"),
            {
                "fields": (
                    "worker",
                    "attempts",
                    "max_attempts",
                    "lease_expires_at",
                    "created_at",
                    "claimed_at",
                    "started_at",
                    "finished_at",
                )
            },
        ),
        # The preview, not the file field: media files are not served, the API is.
        (gettext_lazy("Result"), {"fields": ("result", "heatmap_preview")}),
    )

    def has_add_permission(self, request):
        # Requests come from the API (the "AI 분석" button).
        return False

    @admin.display(description="ID")
    def short_id(self, obj):
        return str(obj.pk)[:8]

    @admin.display(description=gettext_lazy("Slide"))
    def slide(self, obj):
        return obj.slide_reference

    @admin.display(description=gettext_lazy("Progress"))
    def progress_bar(self, obj):
        return format_html('<progress max="100" value="{}"></progress> {}%', obj.progress, obj.progress)

    @admin.display(description=gettext_lazy("Heatmap"))
    def heatmap_preview(self, obj):
        if not obj.heatmap:
            return "-"
        url = obj.heatmap_url
        if not obj.thumbnail:
            return format_html('<a href="{}"><img src="{}" style="max-width: 480px" alt="heatmap"></a>', url, url)
        # The RGBA heatmap over the slide's thumbnail, as the pathology page shows it.
        return format_html(
            '<a href="{}" style="position: relative; display: inline-block; max-width: 480px">'
            '<img src="{}" style="max-width: 480px; display: block" alt="thumbnail">'
            '<img src="{}" style="position: absolute; inset: 0; width: 100%; opacity: .6" alt="heatmap"></a>',
            url,
            obj.thumbnail_url,
            url,
        )


@admin.register(InferenceWorker)
class InferenceWorkerAdmin(admin.ModelAdmin):
    list_display = ("name", "host", "device", "version", "last_seen", "current_request")
    search_fields = ("name", "host")
    readonly_fields = ("api_key", "last_seen", "current_request", "created_at")
