"""The site's shell: which pages the navigation offers a user, and what the
home page shows from each app.

Each app that has something to show on the home page has a `home.py` with
`home_section(request) -> HomeSection | None`; the shell knows nothing of the
apps' models. A navigation entry appears only once its page exists (its path
resolves), so an app can land its page without touching the shell.
"""

from dataclasses import dataclass, field
from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.urls import Resolver404, resolve
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class NavEntry:
    key: str
    label: str
    # The first of these paths that resolves is the entry's link.
    paths: tuple[str, ...]
    staff_only: bool = False


NAVIGATION = (
    NavEntry("home", _("Home"), ("/",)),
    NavEntry("conversations", _("Chat & logs"), ("/conversations/",)),
    NavEntry("stories", _("Stories"), ("/stories/",)),
    NavEntry("model", _("Model"), ("/model/", "/model/metrics/")),
    NavEntry("pathology", _("Pathology"), ("/pathology/",)),
    NavEntry("monitoring", _("Monitoring"), ("/monitoring/",), staff_only=True),
)


def _resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def page_url(*paths: str) -> str:
    """The first of these paths that is a page of the site."""
    return next((path for path in paths if _resolves(path)), paths[-1])


def navigation_for(user, current_path: str) -> list[dict]:
    """The entries `user` may open, each with its link and whether it is the
    page being shown."""
    if not getattr(user, "is_authenticated", False):
        return []
    entries = []
    for entry in NAVIGATION:
        if entry.staff_only and not user.is_staff:
            continue
        link = next((path for path in entry.paths if _resolves(path)), None)
        if link is None:
            continue
        if link == "/":
            current = current_path == "/"
        else:
            prefix = "/" + link.strip("/").split("/")[0] + "/"
            current = current_path.startswith(prefix)
        entries.append({"key": entry.key, "label": entry.label, "url": link, "current": current})
    return entries


# The guide (docs/<name>.md) that explains each page.
GUIDES = {"conversations": "conversations", "model": "modeltrainer", "pathology": "pathology"}


def guide_for(navigation: list[dict]) -> str:
    current = next((entry["key"] for entry in navigation if entry["current"]), None)
    return GUIDES.get(current, "platform")


@dataclass
class HomeItem:
    label: str
    url: str = ""
    meta: str = ""
    time: object = None  # an aware datetime, shown in the site's time zone
    status: str = ""  # a status value, styled by the badge
    status_label: str = ""


@dataclass
class HomeSection:
    key: str
    title: str
    url: str
    items: list[HomeItem] = field(default_factory=list)
    empty: str = ""
    summary: str = ""
    order: int = 100


def home_sections(request) -> list[HomeSection]:
    """Every app's section for this user, in the apps' chosen order."""
    sections = []
    for config in apps.get_app_configs():
        try:
            module = import_module(f"{config.name}.home")
        except ModuleNotFoundError as error:
            if error.name != f"{config.name}.home":
                raise
            continue
        section = module.home_section(request)
        if section is not None:
            sections.append(section)
    return sorted(sections, key=lambda section: section.order)


def context(request):
    """Template context for every page: the navigation and the languages."""
    user = getattr(request, "user", None)
    navigation = navigation_for(user, request.path) if user is not None else []
    return {
        "site_navigation": navigation,
        "site_guide": guide_for(navigation),
        "site_languages": settings.LANGUAGES,
        "site_time_zone": settings.TIME_ZONE,
    }
