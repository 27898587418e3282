from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from aiplatform.choices import APIKeyScope
from aiplatform.models import PlatformAPIKey, User

# The package's own concrete key model is unused: PlatformAPIKey replaces it.
admin.site.unregister(APIKey)


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
    list_display = [*APIKeyModelAdmin.list_display, "owner", "scopes", "last_used"]
    list_filter = [*APIKeyModelAdmin.list_filter, "revoked"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    search_fields = ["name", "prefix", "owner__username"]
