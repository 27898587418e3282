"""The site's shell: home, login, logout, password change, language switch,
navigation and the error pages, through Django's test client."""

import datetime as dt

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.test import Client, override_settings
from django.urls import path
from django.utils import timezone

from aiplatform import urls as site_urls
from conversations.services.logs import log_record
from pathology.models import PathologyRequest
from tests.factories import PASSWORD, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def _boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", _boom)]
handler500 = "aiplatform.api.errors.server_error"


def _log(account, question, **values):
    return log_record(
        account=account, question=question, answer="", status="completed", user_id="u", latency_ms=1.0, **values
    )


def _page(client, url, language="ko", **extra):
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language, **extra)
    return response, response.content.decode()


def test_anonymous_home_goes_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_login_page_speaks_the_visitors_language(client):
    response, html = _page(client, "/accounts/login/")
    assert response.status_code == 200
    assert '<html lang="ko">' in html and "로그인" in html and "사용자 이름" in html
    _response, html = _page(client, "/accounts/login/", language="en")
    assert '<html lang="en">' in html and "Username" in html and "로그인" not in html


def test_login_then_home_shows_the_users_latest_items(client):
    user = UserFactory(username="kim")
    _log(user, "환불 규정이 어떻게 되나요?")
    _log(UserFactory(username="lee"), "다른 사람의 질문")
    PathologyRequest.objects.create(slide_file="CMU-1.svs", requested_by=user)

    response = client.post("/accounts/login/", {"username": "kim", "password": PASSWORD, "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    response, html = _page(client, "/")
    assert response.status_code == 200
    assert "kim님, 환영합니다" in html
    assert "환불 규정이 어떻게 되나요?" in html and "다른 사람의 질문" not in html
    assert "CMU-1.svs" in html and "대기" in html
    assert "아직 서비스 중인 모델이 없습니다." in html
    assert 'href="/api/docs/"' in html


def test_home_times_are_in_seoul(client):
    user = UserFactory()
    created = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)  # 08:30 on the 2nd in Seoul
    _log(user, "언제?", created_at=created)
    client.force_login(user)
    _response, html = _page(client, "/")
    assert 'datetime="2026-12-02T08:30:00+09:00"' in html
    assert "Asia/Seoul" in html


def test_a_wrong_password_is_refused_in_place(client):
    UserFactory(username="kim")
    response = client.post("/accounts/login/", {"username": "kim", "password": "nope"}, HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 200
    assert "사용자 이름 또는 비밀번호가 올바르지 않습니다." in response.content.decode()


def test_logins_are_throttled_per_address_like_the_token_endpoint(client, settings):
    settings.LOGIN_THROTTLE_RATE = "2/min"
    UserFactory(username="kim")
    codes = [client.post("/accounts/login/", {"username": "kim", "password": "x"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    response = client.post("/accounts/login/", {"username": "kim", "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert "시도가 너무 많습니다" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # The JWT endpoint counts against the same bucket.
    api = Client()
    assert api.post("/api/auth/token/", {"username": "kim", "password": PASSWORD}).status_code == 429


def test_logout_is_a_post_and_ends_the_session(client):
    client.force_login(UserFactory())
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_password_change(client):
    user = UserFactory(username="kim")
    client.force_login(user)
    response, html = _page(client, "/accounts/password_change/")
    assert response.status_code == 200 and "비밀번호 변경" in html
    response = client.post(
        "/accounts/password_change/",
        {"old_password": "wrong", "new_password1": "a-new-pass-9876", "new_password2": "a-new-pass-9876"},
        HTTP_ACCEPT_LANGUAGE="ko",
    )
    assert response.status_code == 200 and 'data-testid="error-old_password"' in response.content.decode()
    response = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": "a-new-pass-9876", "new_password2": "a-new-pass-9876"},
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/password_change/done/"
    user.refresh_from_db()
    assert user.check_password("a-new-pass-9876")


def test_language_switch_is_remembered_for_a_year(client):
    client.force_login(UserFactory())
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "en" and int(cookie["max-age"]) == 365 * 24 * 3600
    # The cookie wins over the browser's Accept-Language.
    _response, html = _page(client, "/", language="ko")
    assert '<html lang="en">' in html and "Your latest chats" in html and "최근 대화" not in html


def test_navigation_offers_what_the_user_may_open(client):
    client.force_login(UserFactory())
    _response, html = _page(client, "/conversations/")
    assert 'data-nav="conversations" aria-current="page"' in html
    assert 'data-nav="home"' in html and 'data-nav="model"' in html
    # The footer's guide is the page's own.
    assert 'href="/guide/conversations/" data-testid="guide-link"' in html
    assert 'data-nav="admin"' not in html
    client.force_login(StaffFactory())
    _response, html = _page(client, "/")
    assert 'data-nav="home" aria-current="page"' in html and 'data-nav="admin"' in html


@pytest.mark.parametrize(
    ("language", "title", "english"), [("ko", "페이지를 찾을 수 없습니다", False), ("en", "Page not found", True)]
)
def test_404_page_is_in_the_site_style_and_language(client, language, title, english):
    client.force_login(UserFactory())
    response, html = _page(client, "/no-such-page/", language=language)
    assert response.status_code == 404
    assert 'data-testid="error-page"' in html and title in html
    assert 'class="site-header"' in html
    assert ("Back to the home page" in html) is english


def test_api_paths_keep_json_errors(client):
    response = client.get("/api/no-such-thing/", HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 404
    assert response.json()["error"] == {"status": 404, "code": "not_found", "message": "찾을 수 없습니다."}


@override_settings(ROOT_URLCONF=__name__)
def test_500_page_has_no_traceback_and_speaks_korean():
    client = Client(raise_request_exception=False)
    response = client.get("/boom/", HTTP_ACCEPT_LANGUAGE="ko")
    html = response.content.decode()
    assert response.status_code == 500
    assert "문제가 발생했습니다" in html and "Traceback" not in html and "a bug" not in html
    response = client.get("/boom/", HTTP_ACCEPT="application/json")
    assert response.status_code == 500 and response.json()["error"]["code"] == "server_error"


def test_guides_are_read_from_docs_only(client, tmp_path, monkeypatch):
    from aiplatform import pages

    (tmp_path / "modeltrainer.md").write_text("# Model\n", encoding="utf-8")
    (tmp_path / "platform.md").write_text(
        "# 플랫폼 안내\n\nSee [the model](modeltrainer.md#training), [the README](../README.md) and `<b>`.\n\n"
        "<script>alert(1)</script>\n\n"
        "| a | b |\n|---|---|\n| 1 | **2** |\n\n```bash\ncurl -s $BASE <x>\n```\n",
        encoding="utf-8",
    )
    (tmp_path / "secret.txt").write_text("no", encoding="utf-8")
    monkeypatch.setattr(pages, "GUIDES_DIR", tmp_path)
    client.force_login(UserFactory())
    response, html = _page(client, "/guide/platform/")
    assert response.status_code == 200 and '<h1 id="플랫폼-안내">플랫폼 안내</h1>' in html
    assert '<a href="/guide/modeltrainer/#training">the model</a>' in html
    assert "the README" in html and "README.md" not in html
    assert "<code>&lt;b&gt;</code>" in html and "<script>alert" not in html
    assert "<td><strong>2</strong></td>" in html
    assert "<pre><code>curl -s $BASE &lt;x&gt;</code></pre>" in html
    assert client.get("/guide/secret/").status_code == 404
    assert client.get("/guide/..%2Fsecret/").status_code == 404


def test_the_admin_view_site_link_is_the_home_page(admin_client):
    html = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert 'href="/"' in html
    assert timezone.get_current_timezone_name() == "Asia/Seoul"


def _forbidden(request):
    raise PermissionDenied


# The site's own routes too: the shell's header links to them.
urlpatterns += [path("forbidden/", _forbidden), *site_urls.urlpatterns]
handler403 = "aiplatform.api.errors.permission_denied"


@override_settings(ROOT_URLCONF=__name__)
def test_403_page_is_in_the_site_style_and_language(client):
    response = client.get("/forbidden/", HTTP_ACCEPT_LANGUAGE="ko")
    html = response.content.decode()
    assert response.status_code == 403
    assert 'data-testid="error-page"' in html and "접근 권한 없음" in html


def test_read_only_records_have_no_save_button(admin_client):
    from modeltrainer.models import ModelVersion

    version = ModelVersion.objects.create(number=1)
    request = PathologyRequest.objects.create(slide_file="CMU-1.svs")
    for url in (
        f"/admin/modeltrainer/modelversion/{version.pk}/change/",
        f"/admin/pathology/pathologyrequest/{request.pk}/change/",
    ):
        html = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
        assert 'name="_save"' not in html and 'name="_continue"' not in html, url
    # An editable record keeps them.
    html = admin_client.get(f"/admin/aiplatform/user/{version.pk and UserFactory().pk}/change/").content.decode()
    assert 'name="_save"' in html


def test_admin_reads_well_in_korean(admin_client):
    html = admin_client.get("/admin/django_tasks_database/dbtaskresult/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "볼 작업 결과 선택" in html and "보기위한" not in html
    html = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "Django-RQ" not in html and "백그라운드 작업" in html
