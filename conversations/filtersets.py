import datetime as dt
from dataclasses import dataclass

import django_filters
from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from aiplatform.api.filters import FilterSet

from .choices import LogStatus
from .models import ConversationLog
from .search import logs_search


@dataclass(frozen=True)
class TimeBound:
    """A date_from/date_to value: a whole local date, or an exact instant."""

    value: dt.datetime
    date: dt.date | None

    @property
    def is_date(self) -> bool:
        return self.date is not None


class DateOrDateTimeField(forms.CharField):
    """`2026-11-22` (a whole day in TIME_ZONE) or an ISO 8601 date-time
    (naive ones are read in TIME_ZONE)."""

    default_error_messages = {"invalid": _("Enter a date (YYYY-MM-DD) or an ISO 8601 date-time.")}

    def __init__(self, *, end: bool = False, **kwargs):
        self.end = end
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            day = parse_date(value)
            moment = None if day else parse_datetime(value)
        except ValueError:
            day = moment = None
        if day is not None:
            start = day + dt.timedelta(days=1) if self.end else day
            midnight = dt.datetime.combine(start, dt.time.min)
            return TimeBound(timezone.make_aware(midnight), day)
        if moment is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return TimeBound(moment, None)


@extend_schema_field(OpenApiTypes.STR)
class TimeBoundFilter(django_filters.Filter):
    field_class = DateOrDateTimeField

    def __init__(self, *args, end: bool = False, **kwargs):
        self.end = end
        super().__init__(*args, **kwargs)

    @property
    def field(self):
        if not hasattr(self, "_field"):
            self._field = DateOrDateTimeField(end=self.end, required=False, label=self.label)
        return self._field

    def filter(self, qs, value):
        if value is None:
            return qs
        # date_to as a date includes that whole day (the bound is the next midnight).
        lookup = "lt" if (self.end and value.is_date) else ("lte" if self.end else "gte")
        return qs.filter(**{f"created_at__{lookup}": value.value})


class ConversationLogFilterForm(forms.Form):
    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        # date_to as a date is the next midnight, excluded; as an instant, included.
        if (
            start is not None
            and end is not None
            and (start.value >= end.value if end.is_date else start.value > end.value)
        ):
            # An inverted range would answer an empty list that looks like "no logs".
            self.add_error("date_from", _("Must not be after date_to."))
            self.add_error("date_to", _("Must not be before date_from."))
        return cleaned


class ConversationLogFilterSet(FilterSet):
    user_id = django_filters.CharFilter(max_length=64, help_text="End-user label given to rag-chat.")
    session_id = django_filters.CharFilter(max_length=64)
    status = django_filters.ChoiceFilter(choices=LogStatus.choices)
    date_from = TimeBoundFilter(help_text="From this date (YYYY-MM-DD, local) or instant (ISO 8601).")
    date_to = TimeBoundFilter(end=True, help_text="Up to this date, inclusive, or instant (ISO 8601).")
    q = django_filters.CharFilter(
        method="filter_q", max_length=200, help_text="Full-text search; 로그 finds 로그를, logs finds log."
    )
    rating = django_filters.TypedChoiceFilter(choices=[("1", "1"), ("-1", "-1")], coerce=int)

    class Meta:
        model = ConversationLog
        form = ConversationLogFilterForm
        fields = ["user_id", "session_id", "status", "date_from", "date_to", "q", "rating"]

    def filter_q(self, qs, name, value):
        return logs_search(qs, value)


def filter_parameters() -> list:
    """The filters as OpenAPI query parameters, for views that are not lists."""
    from drf_spectacular.utils import OpenApiParameter

    return [
        OpenApiParameter(name, str, description=str(flt.extra.get("help_text", "")))
        for name, flt in ConversationLogFilterSet.base_filters.items()
    ]
