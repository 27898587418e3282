"""Every route refuses anonymous callers, except the few public ones.

Routes are enumerated from the URL resolver, so an endpoint added later by
any app is covered without touching this file.
"""

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# Public by design: probes, the API description, the logins (the site's, the
# admin's and the JWT endpoints) and the logout (POST only), the language switch and its message catalog
# (a visitor chooses the language of the login page), and static files.
PUBLIC = [
    r"^healthz$",
    r"^readyz$",
    r"^metrics$",
    r"^api/schema/",
    r"^api/docs/",
    r"^api/auth/token/",
    r"^admin/login/",
    r"^accounts/login/",
    r"^accounts/logout/",
    r"^i18n/setlang/",
    r"^jsi18n/",
    r"^static/",
]

LOGIN_PAGES = re.compile(r"^/(admin|accounts)/login/")

# Fixed values: parallel test workers must collect the same test ids.
SAMPLE_BY_CONVERTER = {"int": "1", "uuid": str(uuid.UUID(int=1)), "slug": "x", "str": "x", "path": "x"}
METHODS = ["get", "post", "put", "patch", "delete"]


def _sample(pattern) -> str:
    route = str(pattern.pattern)
    if hasattr(pattern.pattern, "converters") and pattern.pattern.converters:

        def fill(match):
            name = match.group("name")
            converter = match.group("conv") or "str"
            return SAMPLE_BY_CONVERTER.get(converter, "1") if name else "x"

        return re.sub(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>", fill, route)
    if route.startswith("^") or "(?P<" in route or route.endswith("$"):
        # A regex route (DRF routers): fill every named group with "1".
        route = re.sub(r"\(\?P<format>[^)]*\)", "json", route)
        # A group of literal alternatives (csv|jsonl): take the first.
        route = re.sub(r"\(\?P<\w+>([\w-]+)\|[\w|-]+\)", r"\1", route)
        route = re.sub(r"\(\?P<\w+>[^)]*\)\??", "1", route)
        route = route.lstrip("^").rstrip("$").replace("\\.", ".").replace("/?", "/")
    return route


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + _sample(entry))
        elif isinstance(entry, URLPattern):
            yield prefix + _sample(entry), entry


def all_routes():
    return sorted({path for path, _ in _walk(get_resolver().url_patterns)})


def is_public(path: str) -> bool:
    return any(re.search(rule, path) for rule in PUBLIC)


def test_enumeration_finds_the_platform_routes():
    routes = all_routes()
    assert "api/me/" in routes
    assert any(r.startswith("admin/") for r in routes)
    assert len(routes) > 20


@pytest.mark.parametrize("path", [p for p in all_routes() if not is_public(p)])
@pytest.mark.django_db
def test_anonymous_is_refused(client, path):
    for method in METHODS:
        response = getattr(client, method)("/" + path)
        if not path.startswith("api/") and response.status_code == 302:
            # The admin and the HTML pages answer anonymous callers with a
            # redirect (at most via the admin index) to a login page.
            for _hop in range(3):
                if LOGIN_PAGES.search(response["Location"]):
                    break
                response = client.get(response["Location"])
                assert response.status_code == 302, (method, path, response.status_code)
            assert LOGIN_PAGES.search(response["Location"]), (method, path)
        else:
            assert response.status_code in (401, 403), (method, path, response.status_code)
            if path.startswith("api/"):
                assert response.json()["error"]["status"] == response.status_code
