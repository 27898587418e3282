import django_filters
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions

# Query parameters that belong to pagination, ordering, search and rendering
# rather than to a FilterSet.
GENERIC_PARAMS = frozenset({"limit", "offset", "cursor", "ordering", "search", "format", "page", "page_size"})


class StrictDjangoFilterBackend(DjangoFilterBackend):
    """django-filter, but an unknown query parameter is a 400 naming it, so a
    typo (`user=` for `user_id=`) is not silently ignored."""

    def filter_queryset(self, request, queryset, view):
        self.reject_unknown_params(request, queryset, view)
        return super().filter_queryset(request, queryset, view)

    def reject_unknown_params(self, request, queryset, view) -> None:
        """400 naming every query parameter that neither the FilterSet nor the view knows."""
        allowed = set(GENERIC_PARAMS) | set(getattr(view, "extra_query_params", ()))
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            allowed |= set(filterset_class.base_filters)
            for name, flt in filterset_class.base_filters.items():
                # Range-style filters take suffixed parameters (x_after, x_min...).
                widget = getattr(flt.field_class, "widget", None)
                suffixes = getattr(widget, "suffixes", None)
                if suffixes:
                    allowed |= {f"{name}_{suffix}" for suffix in suffixes}
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise exceptions.ValidationError({name: [_("Unknown query parameter.")] for name in unknown})


class FilterSet(django_filters.FilterSet):
    """A FilterSet whose form class is built once per FilterSet class.

    django-filter builds it anew for every request (a third of a log list's
    Python time). The filters are declared on the class and none of ours
    depends on the request, so the class can be shared: each form instance
    still copies its fields.
    """

    @classmethod
    def _shared_form_class(cls, build):
        if "_form_class" not in cls.__dict__:
            cls._form_class = build()
        return cls._form_class

    def get_form_class(self):
        return self._shared_form_class(super().get_form_class)
