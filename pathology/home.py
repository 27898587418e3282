"""The home page's section: the user's latest pathology requests."""

from django.utils.translation import gettext as _

from aiplatform.site import HomeItem, HomeSection

from .selectors import requests_visible_to

RECENT = 5


def home_section(request) -> HomeSection:
    requests = requests_visible_to(request.user).filter(requested_by=request.user)[:RECENT]
    return HomeSection(
        key="pathology",
        title=_("Your pathology requests"),
        url="/pathology/",
        order=40,
        empty=_("No analysis requested yet."),
        items=[
            HomeItem(
                label=item.slide_reference,
                url=f"/pathology/#request-{item.pk}",
                meta=f"{item.progress}%" if item.status == "processing" else "",
                time=item.created_at,
                status=item.status,
                status_label=item.get_status_display(),
            )
            for item in requests
        ],
    )
