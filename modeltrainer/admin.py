from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from aiplatform.admin import ReadOnlyRecordMixin
from aiplatform.errors import DomainError

from . import selectors
from .models import ModelVersion, TrainingExample
from .services import versions
from .services.examples import text_digest


@admin.action(description=_("Activate the selected version (roll back)"))
def activate_version(modeladmin, request, queryset):
    if queryset.count() != 1:
        modeladmin.message_user(request, _("Select exactly one version."), messages.ERROR)
        return
    try:
        version = versions.model_version_activate(version=queryset.get())
    except DomainError as exc:
        modeladmin.message_user(request, exc.message, messages.ERROR)
        return
    modeladmin.message_user(
        request, _("v%(n)s is now active; every server process switches within seconds.") % {"n": version.number}
    )


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyRecordMixin, admin.ModelAdmin):
    list_display = (
        "number",
        "status",
        "active_mark",
        "accuracy",
        "macro_f1",
        "activation_result",
        "example_count",
        "algorithm",
        "tokenizer",
        "finished_at",
        "duration_s",
    )
    list_filter = ("status", "algorithm", "tokenizer")
    actions = [activate_version]
    readonly_fields = [field.name for field in ModelVersion._meta.fields] + [
        "per_label",
        "activation_result",
        "activation_reason",
    ]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "number",
                    "status",
                    "active",
                    "activation_result",
                    "activation_reason",
                    "progress",
                    "stage",
                    "error",
                )
            },
        ),
        (_("Metrics"), {"fields": ("per_label", "metrics")}),
        (
            _("Training settings"),
            {"fields": ("algorithm", "tokenizer", "params", "activation_requested", "trigger", "triggered_by")},
        ),
        (
            _("Data lineage"),
            {
                "fields": (
                    "example_count",
                    "train_count",
                    "test_count",
                    "labels",
                    "data_fingerprint",
                    "example_id_min",
                    "example_id_max",
                )
            },
        ),
        (_("Model file"), {"fields": ("artifact", "artifact_sha256", "artifact_size")}),
        (_("Times"), {"fields": ("created_at", "started_at", "finished_at", "duration_s", "activated_at")}),
    )

    def has_add_permission(self, request):
        # Versions are made by training (API, manage.py train_model).
        return False

    def has_delete_permission(self, request, obj=None):
        # The active version and one being trained are never deleted: the
        # delete page refuses them, and so does a bulk delete that selects
        # them (Django checks this for every selected object).
        if obj is not None and (obj.active or obj.in_flight):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        versions.model_version_delete(version=obj)

    def delete_queryset(self, request, queryset):
        for version in queryset:
            versions.model_version_delete(version=version)

    @admin.display(description=_("active"), boolean=True)
    def active_mark(self, obj):
        return bool(obj.active)

    @admin.display(description=_("activation decision"))
    def activation_result(self, obj):
        return selectors.activation_view(obj)["result_label"] or "-"

    @admin.display(description=_("why"))
    def activation_reason(self, obj):
        return selectors.activation_view(obj)["reason"] or "-"

    @admin.display(description=_("accuracy"))
    def accuracy(self, obj):
        return (obj.metrics or {}).get("accuracy")

    @admin.display(description=_("macro F1"))
    def macro_f1(self, obj):
        return (obj.metrics or {}).get("macro_f1")

    @admin.display(description=_("metrics per label"))
    def per_label(self, obj):
        rows = (obj.metrics or {}).get("per_label", {})
        if not rows:
            return "-"
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((label, row["precision"], row["recall"], row["f1"], row["support"]) for label, row in rows.items()),
        )
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
            _("label"),
            _("precision"),
            _("recall"),
            _("F1"),
            _("support"),
            body,
        )


class TrainingExampleForm(forms.ModelForm):
    class Meta:
        model = TrainingExample
        fields = ["text", "label", "source"]

    def clean(self):
        cleaned = super().clean()
        text, label = cleaned.get("text"), cleaned.get("label")
        if text and label:
            self.instance.text_sha256 = text_digest(text)
            same = TrainingExample.objects.filter(text_sha256=self.instance.text_sha256, label=label.strip())
            if same.exclude(pk=self.instance.pk).exists():
                self.add_error("text", _("This text is already stored with this label."))
        return cleaned


@admin.register(TrainingExample)
class TrainingExampleAdmin(admin.ModelAdmin):
    form = TrainingExampleForm
    list_display = ("id", "label", "source", "short_text", "created_at")
    list_filter = ("label", "source")
    search_fields = ("text", "label")
    date_hierarchy = "created_at"
    readonly_fields = ("conversation_log", "created_by", "created_at")
    raw_id_fields = ("conversation_log",)
    show_full_result_count = False

    @admin.display(description=_("text"))
    def short_text(self, obj):
        return obj.text[:80]

    def save_model(self, request, obj, form, change):
        obj.text_sha256 = text_digest(obj.text)
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
