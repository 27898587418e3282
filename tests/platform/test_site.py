"""Schema, docs served offline, admin in Korean, settings that matter."""

import pytest
from django.conf import settings

from aiplatform import settings as project_settings

pytestmark = pytest.mark.django_db


def test_schema_is_public_and_describes_auth(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"ApiKeyAuth", "XApiKeyAuth", "jwtAuth"} <= set(schema["components"]["securitySchemes"])
    assert "/api/me/" in schema["paths"]


def test_swagger_ui_uses_local_assets_only(client):
    html = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html


def test_admin_login_is_public_and_korean(client):
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 200
    assert "AI 플랫폼 관리" in response.content.decode()


def test_admin_lists_api_keys_for_staff(admin_client, make_api_key):
    make_api_key(["worker"], name="gpu-01")
    response = admin_client.get("/admin/aiplatform/platformapikey/")
    assert response.status_code == 200
    assert "gpu-01" in response.content.decode()


def test_times_are_utc_in_the_database_and_seoul_on_display():
    assert settings.USE_TZ is True
    assert settings.TIME_ZONE == "Asia/Seoul"
    # The tests' own default is English (tests/conftest.py); the project's is Korean.
    assert project_settings.LANGUAGE_CODE == "ko"
    assert [code for code, _name in settings.LANGUAGES] == ["ko", "en"]


def test_english_is_available(client, owner):
    client.force_login(owner)
    korean = client.get("/api/me/", HTTP_ACCEPT="application/json", HTTP_ACCEPT_LANGUAGE="ko").json()
    english = client.get("/api/me/", HTTP_ACCEPT="application/json", HTTP_ACCEPT_LANGUAGE="en").json()
    assert korean["language"] == "ko"
    assert english["language"] == "en"
