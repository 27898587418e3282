"""One error format for every 4xx/5xx answer of the platform:

    {"error": {"status": 400, "code": "invalid",
               "message": "question: This field is required.",
               "fields": {"question": ["This field is required."]}}}

`fields` is present for validation errors and names each field (nested
fields as dotted paths, e.g. `items.0.text`).
"""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from aiplatform.errors import DomainError

logger = logging.getLogger(__name__)


def error_body(status_code: int, code: str, message: str, fields: dict | None = None, **extra) -> dict:
    body = {"status": status_code, "code": code, "message": message}
    if fields:
        body["fields"] = fields
    body.update(extra)
    return {"error": body}


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested ValidationError detail into {"a.b": ["msg", ...]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            out.update(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out.setdefault(prefix or "non_field_errors", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                if item:
                    out.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return out


def _first_message(fields: dict[str, list[str]]) -> str:
    name, messages = next(iter(fields.items()))
    return messages[0] if name == "non_field_errors" else f"{name}: {messages[0]}"


def _code_and_message(exc: exceptions.APIException) -> tuple[str, str]:
    detail = exc.detail
    if isinstance(detail, dict):
        # e.g. simplejwt: {"detail": "...", "code": "token_not_valid", "messages": [...]}
        return str(detail.get("code", exc.default_code)), str(detail.get("detail", exc.default_detail))
    codes = exc.get_codes()
    return (codes if isinstance(codes, str) else exc.default_code), str(detail)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        fields = {exc.field: [exc.message]} if exc.field else None
        set_rollback()
        return Response(error_body(exc.status_code, exc.code, exc.message, fields, **exc.extra), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # unexpected: Django's handler500 answers (JSON, no traceback)

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    set_rollback()
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail) or {"non_field_errors": [_("Invalid input.")]}
        body = error_body(exc.status_code, "invalid", _first_message(fields), fields)
    else:
        code, message = _code_and_message(exc)
        body = error_body(exc.status_code, code, message)
    return Response(body, status=exc.status_code, headers=headers)


def _json_wanted(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def _django_error(request, status_code: int, code: str, message: str):
    if _json_wanted(request):
        return JsonResponse(error_body(status_code, code, message), status=status_code)
    # Imported here: the page pulls in the site's templates and navigation,
    # which the API's error handling does not need.
    from aiplatform.pages import error_page

    return error_page(request, status_code)


def bad_request(request, exception=None):
    return _django_error(request, 400, "bad_request", _("Bad request."))


def permission_denied(request, exception=None):
    return _django_error(request, 403, "permission_denied", _("Permission denied."))


def page_not_found(request, exception=None):
    return _django_error(request, 404, "not_found", _("Not found."))


def server_error(request):
    return _django_error(
        request, status.HTTP_500_INTERNAL_SERVER_ERROR, "server_error", _("Internal server error; it has been logged.")
    )
