import django_filters

from aiplatform.api.filters import FilterSet

from .choices import ExampleSource, VersionStatus
from .models import ModelVersion, TrainingExample


class TrainingExampleFilterSet(FilterSet):
    label = django_filters.CharFilter()
    source = django_filters.ChoiceFilter(choices=ExampleSource.choices)
    created_from = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_to = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    q = django_filters.CharFilter(field_name="text", lookup_expr="icontains", label="Text contains")

    class Meta:
        model = TrainingExample
        fields = ["label", "source", "created_from", "created_to", "q"]


class ModelVersionFilterSet(FilterSet):
    status = django_filters.ChoiceFilter(choices=VersionStatus.choices)

    class Meta:
        model = ModelVersion
        fields = ["status"]
