import django_filters

from aiplatform.api.filters import FilterSet

from .choices import RequestStatus
from .models import PathologyRequest


class PathologyRequestFilterSet(FilterSet):
    status = django_filters.ChoiceFilter(choices=RequestStatus.choices)
    created_from = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_to = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    requested_by = django_filters.CharFilter(field_name="requested_by__username", label="Requester's username")
    worker = django_filters.CharFilter(field_name="worker__name")
    patient_id = django_filters.CharFilter()

    class Meta:
        model = PathologyRequest
        fields = ["status", "created_from", "created_to", "requested_by", "worker", "patient_id"]
