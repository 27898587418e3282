from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from aiplatform.choices import APIKeyScope
from aiplatform.models import PlatformAPIKey, User

# The package's own concrete key model is unused: PlatformAPIKey replaces it.
admin.site.unregister(APIKey)

# Django-RQ's dashboard shows queues that are idle unless tasks run on RQ.
if settings.TASKS_BACKEND != "rq":
    from django_rq.models import Dashboard

    if admin.site.is_registered(Dashboard):
        admin.site.unregister(Dashboard)


class ReadOnlyRecordMixin:
    """For records the admin shows but does not edit (every field read-only):
    no save buttons, since there is nothing to save; actions and deletion
    stay as each admin allows them."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    pass


class PlatformAPIKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=APIKeyScope.choices, widget=forms.CheckboxSelectMultiple, label=_("scopes")
    )

    class Meta:
        model = PlatformAPIKey
        fields = ["name", "owner", "scopes", "expiry_date", "revoked"]


@admin.register(PlatformAPIKey)
class PlatformAPIKeyAdmin(APIKeyModelAdmin):
    """The key itself is shown once, in the message after creation."""

    form = PlatformAPIKeyForm
    list_display = [
        "name",
        "prefix",
        "owner",
        "scope_labels",
        "created",
        "expiry_date",
        "expired",
        "revoked",
        "last_used",
    ]
    list_filter = ["created", "expiry_date", "revoked"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    search_fields = ["name", "prefix", "owner__username"]

    @admin.display(description=_("scopes"))
    def scope_labels(self, obj: PlatformAPIKey) -> str:
        labels = dict(APIKeyScope.choices)
        return ", ".join(str(labels.get(scope, scope)) for scope in obj.scopes) or "-"

    @admin.display(description=_("expired"), boolean=True)
    def expired(self, obj: PlatformAPIKey) -> bool:
        return obj.has_expired


admin.site.unregister(DBTaskResult)


@admin.register(DBTaskResult)
class TaskResultAdmin(ReadOnlyRecordMixin, DBTaskResultAdmin):
    """django-tasks-db's admin with translated column names."""

    list_display = ("id", "task", "status", "enqueued_at", "started_at", "finished_at", "priority", "queue_name")

    @admin.display(description=_("task"))
    def task(self, obj: DBTaskResult) -> str:
        return obj.task_name
