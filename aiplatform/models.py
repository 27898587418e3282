from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager


class User(AbstractUser):
    """The platform's user. Kept as our own model so fields can be added later
    without a user-model swap."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"


class PlatformAPIKeyManager(BaseAPIKeyManager):
    def get_usable_keys(self):
        return super().get_usable_keys().select_related("owner")


class PlatformAPIKey(AbstractAPIKey):
    """A hashed API key (only a SHA-512 of it is stored) with scopes.

    A key with an owner acts as that user on the general API (scope
    `service`); a key without one is a program identity (a worker).
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_keys",
        verbose_name=_("owner"),
    )
    objects = PlatformAPIKeyManager()

    # The package's fields, again, with names a person reads in the admin
    # (the package leaves these untranslated).
    prefix = models.CharField(max_length=8, unique=True, editable=False, verbose_name=_("prefix"))
    created = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created"))
    name = models.CharField(
        max_length=50,
        blank=False,
        default=None,
        verbose_name=_("name"),
        help_text=_("A free-form name for the API key. Need not be unique. 50 characters max."),
    )
    revoked = models.BooleanField(
        blank=True,
        default=False,
        verbose_name=_("revoked"),
        help_text=_("If the API key is revoked, clients cannot use it anymore. (This cannot be undone.)"),
    )
    scopes = models.JSONField(default=list, blank=True, verbose_name=_("scopes"))
    last_used = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("last used"))

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
