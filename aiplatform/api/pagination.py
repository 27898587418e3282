"""Pagination used by every list endpoint.

Limit/offset by default; cursor pagination (stable under inserts, constant
cost at any depth) for large, append-mostly tables. Unlike DRF's defaults, a
`limit` or `offset` that is not a number in range is refused with 400 naming
the parameter instead of being silently clamped.
"""

from django.utils.encoding import force_str
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination, LimitOffsetPagination
from rest_framework.utils.urls import replace_query_param


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

    offset_query_param = "offset"
    offset: int | None = None  # set per request: None pages by cursor
    offset_query_description = gettext_lazy(
        "Rows to skip, for clients that page by offset; the `next` and `previous` links then carry offsets too. "
        "Not with `cursor`."
    )

    def get_page_size(self, request):
        return parse_bounded_int(
            request, self.page_size_query_param, default=self.page_size, minimum=1, maximum=self.max_page_size
        )

    def paginate_queryset(self, queryset, request, view=None):
        # Clients written for the seed's limit/offset list page by `offset`.
        # Ignoring it would hand them the first page again and again, so an
        # offset gets a limit/offset page (one query: a row past the page
        # tells whether there is a next one, no COUNT).
        self.offset = parse_bounded_int(request, self.offset_query_param, default=None, minimum=0, maximum=None)
        if self.offset is None:
            return super().paginate_queryset(queryset, request, view)
        if request.query_params.get(self.cursor_query_param):
            raise exceptions.ValidationError({self.offset_query_param: [_("Use either cursor or offset, not both.")]})
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.ordering = self.get_ordering(request, queryset, view)
        unique = {"id", "pk", *getattr(view, "unique_ordering_fields", ())}
        rows = list(
            queryset.order_by(*_unique_ordering(self.ordering, unique))[self.offset : self.offset + self.page_size + 1]
        )
        self.page = rows[: self.page_size]
        self.has_next = len(rows) > self.page_size
        self.has_previous = self.offset > 0
        return self.page

    def get_next_link(self):
        if self.offset is None:
            return super().get_next_link()
        if not self.has_next:
            return None
        return replace_query_param(self.base_url, self.offset_query_param, self.offset + self.page_size)

    def get_previous_link(self):
        if self.offset is None:
            return super().get_previous_link()
        if not self.has_previous:
            return None
        return replace_query_param(self.base_url, self.offset_query_param, max(0, self.offset - self.page_size))

    def get_schema_operation_parameters(self, view):
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.offset_query_param,
                "required": False,
                "in": "query",
                "description": force_str(self.offset_query_description),
                "schema": {"type": "integer", "minimum": 0},
            },
        ]


def _unique_ordering(ordering, unique: set[str]) -> tuple[str, ...]:
    """The ordering with the primary key as the last key, so that rows that
    tie (same created_at) keep one order from one offset query to the next.
    An ordering by a unique field (a view's `unique_ordering_fields`) is
    left as it is."""
    if any(name.lstrip("-") in unique for name in ordering):
        return tuple(ordering)
    return (*ordering, "-id" if ordering[0].startswith("-") else "id")
