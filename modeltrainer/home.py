"""The home page's section: which text classifier serves, and how well."""

from django.utils.translation import gettext as _

from aiplatform.site import HomeItem, HomeSection, page_url

from .models import ModelVersion


def home_section(request) -> HomeSection:
    active = ModelVersion.objects.filter(active=True).first()
    training = ModelVersion.objects.filter(in_flight=True).first()
    items = []
    if active is not None:
        metrics = active.metrics or {}
        summary = _("Version %(number)s is serving: macro F1 %(f1)s on %(count)s examples.") % {
            "number": active.number,
            "f1": metrics.get("macro_f1", "-"),
            "count": active.example_count,
        }
    else:
        summary = _("No model is serving yet.")
    if training is not None:
        items.append(
            HomeItem(
                label=_("Version %(number)s is training") % {"number": training.number},
                meta=f"{training.progress}%",
                time=training.created_at,
                status=training.status,
                status_label=training.get_status_display(),
            )
        )
    return HomeSection(
        key="model",
        title=_("Text classifier"),
        url=page_url("/model/", "/model/metrics/"),
        order=30,
        summary=summary,
        items=items,
    )
