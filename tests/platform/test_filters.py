"""aiplatform.api.filters.FilterSet: one form class per FilterSet class,
and forms that stay independent of each other."""

from conversations.filtersets import ConversationLogFilterSet
from conversations.models import ConversationLog


def test_the_form_class_is_built_once_and_forms_stay_independent(db):
    first = ConversationLogFilterSet({"status": "nope"}, queryset=ConversationLog.objects.none())
    second = ConversationLogFilterSet({"status": "failed"}, queryset=ConversationLog.objects.none())

    assert type(first.form) is type(second.form)
    assert first.form.fields["status"] is not second.form.fields["status"]
    assert not first.is_valid() and "status" in first.errors
    assert second.is_valid() and second.form.cleaned_data["status"] == "failed"
