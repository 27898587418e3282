"""Request rate limits per user, per API key, and per address for anonymous
callers. Counters live in the default cache: set CACHE_URL to a Redis URL
when more than one server process should share them."""

from django.conf import settings
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from aiplatform.api.permissions import request_api_key


class SettingsRateThrottle(SimpleRateThrottle):
    """Reads its rate from the current settings on every request (DRF copies
    them once at import), so a changed setting takes effect."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


class PrincipalRateThrottle(SettingsRateThrottle):
    scope = "principal"

    def get_cache_key(self, request, view):
        api_key = request_api_key(request)
        if api_key is not None:
            ident = f"key:{api_key.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonymousRateThrottle(SettingsRateThrottle):
    scope = "anonymous"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginRateThrottle(SettingsRateThrottle):
    """Password checks per address, on the login page and the JWT endpoint
    alike: each costs about 0.3 s of CPU (PBKDF2), known user or not."""

    scope = "login"

    def get_rate(self):
        return settings.LOGIN_THROTTLE_RATE

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
