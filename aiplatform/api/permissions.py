"""The default permission of every API view.

Users (session or JWT) must be authenticated. An API key is accepted only
where the view names one of the key's scopes in `api_key_scopes` (default:
`service`), so a `worker` key cannot read user data. Views whose
`users_allowed` is False (the worker protocol) refuse users altogether.
"""

from django.utils.translation import gettext as _
from rest_framework import exceptions, permissions

from aiplatform.choices import APIKeyScope
from aiplatform.models import PlatformAPIKey

DEFAULT_API_KEY_SCOPES = (APIKeyScope.SERVICE,)


def request_api_key(request) -> PlatformAPIKey | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, PlatformAPIKey) else None


class ScopedAccess(permissions.BasePermission):
    def __init__(self, scopes: tuple[str, ...] | None = None):
        # Scopes given here win over the view's (an action that needs another scope).
        self.scopes = scopes

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        api_key = request_api_key(request)
        if api_key is None:
            if not getattr(view, "users_allowed", True):
                raise exceptions.PermissionDenied(_("This endpoint accepts only API keys."))
            return True
        accepted = self.scopes or tuple(getattr(view, "api_key_scopes", DEFAULT_API_KEY_SCOPES))
        if not any(api_key.has_scope(scope) for scope in accepted):
            raise exceptions.PermissionDenied(
                _("This API key lacks the scope this endpoint needs (one of: %(scopes)s).")
                % {"scopes": ", ".join(str(s) for s in accepted)}
            )
        return True


class IsStaff(ScopedAccess):
    """Authenticated as above, and a staff user (keys never are)."""

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and bool(request.user.is_staff)


class StaffOrScopedKey(ScopedAccess):
    """Staff users, or an API key holding one of the scopes: operator work
    that a program may also do (a scheduled retrain with a `model:train`
    key)."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        return request_api_key(request) is not None or bool(request.user.is_staff)
