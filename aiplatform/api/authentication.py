"""API key authentication: `Authorization: Api-Key <key>` or `X-API-Key: <key>`."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from aiplatform.models import PlatformAPIKey

LAST_USED_RESOLUTION_SECONDS = 60


class APIKeyPrincipal:
    """request.user for a key that has no owner: authenticated, never staff,
    no database row."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, api_key: PlatformAPIKey):
        self.api_key = api_key
        self.username = f"api-key:{api_key.prefix}"

    def __str__(self) -> str:
        return self.username

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def has_perms(self, perm_list, obj=None) -> bool:
        return False


def key_from_request(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() == "api-key" and value.strip():
        return value.strip()
    value = request.META.get("HTTP_X_API_KEY", "").strip()
    return value or None


class APIKeyAuthentication(authentication.BaseAuthentication):
    """Authenticates a hashed PlatformAPIKey; request.auth is the key."""

    keyword = "Api-Key"

    def authenticate(self, request):
        raw = key_from_request(request)
        if raw is None:
            return None
        try:
            api_key = PlatformAPIKey.objects.get_from_key(raw)
        except PlatformAPIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API key.")) from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed(_("API key has expired."))
        if api_key.owner is not None and not api_key.owner.is_active:
            raise exceptions.AuthenticationFailed(_("The owner of this API key is inactive."))
        self._touch(api_key)
        user = api_key.owner if api_key.owner is not None else APIKeyPrincipal(api_key)
        return user, api_key

    def authenticate_header(self, request) -> str:
        return self.keyword

    @staticmethod
    def _touch(api_key: PlatformAPIKey) -> None:
        # One write a minute per key at most: last_used is for operators, and
        # a write on every request would serialise SQLite.
        now = timezone.now()
        if api_key.last_used is None or (now - api_key.last_used).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
            PlatformAPIKey.objects.filter(pk=api_key.pk).update(last_used=now)
