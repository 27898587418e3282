"""Every page, and the admin, reads entirely in Korean, or entirely in
English after the switch: no visible word of the other language is left,
except proper names and units (the allow-lists below).

Text is what a person sees: the page's text outside <script>/<style>, plus
the attributes that are read (title, placeholder, aria-label, alt, value of
buttons). <template> contents count (pages render them). User data is kept
Korean-free/English-free by the fixtures so that only our words are checked.
"""

import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse

from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

# Words that stay as they are in Korean text: names, acronyms, units, formats.
ENGLISH_ALLOWED = {
    "AI",
    "API",
    "APIs",
    "JSON",
    "JSONL",
    "CSV",
    "JWT",
    "OpenAPI",
    "Swagger",
    "UI",
    "ID",
    "IDs",
    "URL",
    "HTTP",
    "macro",
    "F1",
    "Orthanc",
    "SVS",
    "TIFF",
    "DICOM",
    "PNG",
    "JPEG",
    "CLAM",
    "GPU",
    "CPU",
    "CUDA",
    "UTF",
    "Asia",
    "Seoul",
    "TF",
    "IDF",
    "TF-IDF",
    "Kiwi",
    "FAISS",
    "RAG",
    "LLM",
    "OpenAI",
    "ms",
    "MB",
    "KB",
    "GB",
    "px",
    "Redis",
    "RQ",
    "SQLite",
    "MariaDB",
    "MySQL",
    "English",
    "SHA",
    "SVG",
    "v",
    "p50",
    "p95",
    "p99",
    "ok",
    "min",
    "max",
    "kim",
    "Api-Key",
    "Key",
    "X-API-Key",
    "Bearer",
    "Django",
    "SAGA",
    "NB",
    "LR",
}
# Django's admin writes these as they are: its icons' alt texts (True, False,
# None, Search) and the permission names it stores at migrate time ("Can add
# conversation log"), listed on the group form, which is therefore not read.
ENGLISH_ALLOWED |= {"True", "False", "None", "Search", "SSO"}
# Slide formats, and the example file name the pathology form shows.
ENGLISH_ALLOWED |= {"BIF", "NDPI", "SCN", "svs", "case-001"}
UNREAD_PAGES = {"/admin/auth/group/add/"}
# Hangul that stays in English text: the language switch names Korean in Korean.
KOREAN_ALLOWED = {"한국어"}
# Korean search terms, given as examples in English help texts.
KOREAN_ALLOWED |= {"로그", "로그를", "대화로그"}

READ_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}


class VisibleText(HTMLParser):
    def __init__(self):
        super().__init__()
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        values = dict(attrs)
        for name in READ_ATTRIBUTES:
            if values.get(name):
                self.chunks.append(values[name])
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.chunks.append(values["value"])

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.chunks.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.chunks).split())


def english_words(text: str) -> set[str]:
    words = set(re.findall(r"[A-Za-z][A-Za-z0-9'-]*[A-Za-z0-9]|[A-Za-z]", text))
    return {w for w in words if w not in ENGLISH_ALLOWED and len(w) > 1 and not re.fullmatch(r"v\d+", w)}


def korean_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[가-힣]+", text) if w not in KOREAN_ALLOWED}


def site_pages() -> list[str]:
    pages = ["/", "/conversations/", "/accounts/password_change/", "/accounts/password_change/done/"]
    for candidate in ("/model/", "/model/metrics/", "/pathology/", "/stories/", "/monitoring/"):
        from django.urls import Resolver404, resolve

        try:
            resolve(candidate)
        except Resolver404:
            continue
        pages.append(candidate)
    return pages


def admin_pages() -> list[str]:
    pages = ["/admin/"]
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        try:
            pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
            pages.append(f"/admin/{meta.app_label}/")
            if model_admin.has_add_permission(_Request()):
                pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
        except NoReverseMatch:
            continue
    return sorted(set(pages) - UNREAD_PAGES)


class _Request:
    class user:
        is_active = is_staff = is_superuser = True

        @staticmethod
        def has_perm(*args):
            return True


def _report(leftovers: dict) -> str:
    return "\n".join(f"{url}: {' '.join(words)}" for url, words in leftovers.items())


def _get(client, url, language):
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, (url, response.status_code)
    return visible_text(response.content.decode())


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory(username="kim", email="", is_superuser=True))
    return client


PUBLIC = ["/accounts/login/"]


@pytest.mark.parametrize("language", ["ko", "en"])
def test_public_pages_read_in_one_language(client, language):
    leftovers = {}
    for url in PUBLIC:
        text = _get(client, url, language)
        found = english_words(text) if language == "ko" else korean_words(text)
        if found:
            leftovers[url] = sorted(found)
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE=language)
    text = visible_text(response.content.decode())
    found = english_words(text) if language == "ko" else korean_words(text)
    if found:
        leftovers["404"] = sorted(found)
    assert leftovers == {}


@pytest.mark.parametrize("language", ["ko", "en"])
def test_site_pages_read_in_one_language(language, client):
    client.force_login(UserFactory(username="kim", email=""))
    leftovers = {}
    for url in site_pages():
        text = _get(client, url, language)
        found = english_words(text) if language == "ko" else korean_words(text)
        if found:
            leftovers[url] = sorted(found)
    assert leftovers == {}, _report(leftovers)


@pytest.mark.parametrize("language", ["ko", "en"])
def test_staff_pages_and_the_admin_read_in_one_language(language, staff_client):
    leftovers = {}
    for url in site_pages() + admin_pages():
        text = _get(staff_client, url, language)
        found = english_words(text) if language == "ko" else korean_words(text)
        if found:
            leftovers[url] = sorted(found)
    assert leftovers == {}, _report(leftovers)
