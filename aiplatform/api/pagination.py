"""Pagination used by every list endpoint.

Limit/offset by default; cursor pagination (stable under inserts, constant
cost at any depth) for large, append-mostly tables. Unlike DRF's defaults, a
`limit` or `offset` that is not a number in range is refused with 400 naming
the parameter instead of being silently clamped.
"""

from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination, LimitOffsetPagination


def parse_bounded_int(request, name: str, *, default: int | None, minimum: int, maximum: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.ValidationError({name: [_("Must be an integer.")]}) from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = (
            _("between %(lo)s and %(hi)s") % {"lo": minimum, "hi": maximum} if maximum is not None else f">= {minimum}"
        )
        raise exceptions.ValidationError({name: [_("Must be %(bound)s.") % {"bound": bound}]})
    return value


class StandardLimitOffsetPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 1000

    def get_limit(self, request):
        return parse_bounded_int(
            request, self.limit_query_param, default=self.default_limit, minimum=1, maximum=self.max_limit
        )

    def get_offset(self, request):
        return parse_bounded_int(request, self.offset_query_param, default=0, minimum=0, maximum=None)


class StandardCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 1000
    ordering = "-created_at"

    def get_page_size(self, request):
        return parse_bounded_int(
            request, self.page_size_query_param, default=self.page_size, minimum=1, maximum=self.max_page_size
        )
