"""JWT, API keys (both headers, revoked, expired, scopes) and the rule that
worker-only endpoints refuse users."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from aiplatform.models import PlatformAPIKey
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def obtain_tokens(client, username, password=PASSWORD):
    return client.post("/api/auth/token/", {"username": username, "password": password}, format="json")


class TestJWT:
    def test_obtain_and_use_access_token(self, owner):
        client = APIClient()
        response = obtain_tokens(client, owner.username)
        assert response.status_code == 200
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
        me = client.get("/api/me/")
        assert me.status_code == 200
        assert me.json()["username"] == "owner"
        assert me.json()["authenticated_by"] == "jwt"

    def test_wrong_password_is_refused(self, owner):
        response = obtain_tokens(APIClient(), owner.username, "not-the-password")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "no_active_account"

    def test_missing_username_names_the_field(self):
        response = APIClient().post("/api/auth/token/", {"password": "x"}, format="json")
        assert response.status_code == 400
        assert "username" in response.json()["error"]["fields"]

    def test_refresh_gives_a_working_access_token(self, owner):
        client = APIClient()
        refresh = obtain_tokens(client, owner.username).json()["refresh"]
        response = client.post("/api/auth/token/refresh/", {"refresh": refresh}, format="json")
        assert response.status_code == 200
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
        assert client.get("/api/me/").status_code == 200

    def test_expired_access_token_is_refused(self, owner):
        from rest_framework_simplejwt.tokens import AccessToken

        token = AccessToken.for_user(owner)
        token.set_exp(from_time=timezone.now() - dt.timedelta(hours=1))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.get("/api/me/")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "token_not_valid"
        # The same token, unexpired, is accepted: the expiry is what failed.
        token.set_exp()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert client.get("/api/me/").status_code == 200

    def test_garbage_refresh_token_is_refused(self):
        response = APIClient().post("/api/auth/token/refresh/", {"refresh": "abc"}, format="json")
        assert response.status_code == 401

    def test_inactive_user_cannot_obtain_a_token(self, owner):
        owner.is_active = False
        owner.save()
        assert obtain_tokens(APIClient(), owner.username).status_code == 401


class TestAPIKeys:
    @pytest.mark.parametrize("header", ["authorization", "x-api-key"])
    def test_key_accepted_in_both_headers(self, make_api_key, key_client, owner, header):
        _key, secret = make_api_key(["service"], owner=owner)
        response = key_client(secret, header).get("/api/me/")
        assert response.status_code == 200
        body = response.json()
        assert body["authenticated_by"] == "api_key"
        assert body["username"] == "owner"
        assert body["scopes"] == ["service"]

    def test_only_a_hash_is_stored(self, make_api_key):
        key, secret = make_api_key(["service"])
        stored = PlatformAPIKey.objects.get(pk=key.pk)
        assert secret not in stored.hashed_key and secret not in stored.id
        assert stored.hashed_key.startswith("sha512$$")

    def test_wrong_secret_with_right_prefix_is_refused(self, make_api_key, key_client):
        key, _secret = make_api_key(["service"])
        response = key_client(f"{key.prefix}.{'x' * 32}").get("/api/me/")
        assert response.status_code == 401
        assert response.json()["error"]["message"]

    def test_revoked_key_is_refused(self, make_api_key, key_client):
        key, secret = make_api_key(["service"])
        assert key_client(secret).get("/api/me/").status_code == 200
        key.revoked = True
        key.save()
        assert key_client(secret).get("/api/me/").status_code == 401

    def test_expired_key_is_refused(self, make_api_key, key_client):
        key, secret = make_api_key(["service"])
        PlatformAPIKey.objects.filter(pk=key.pk).update(expiry_date=timezone.now() - dt.timedelta(minutes=1))
        response = key_client(secret).get("/api/me/")
        assert response.status_code == 401
        assert "expired" in response.json()["error"]["message"]

    def test_key_of_inactive_owner_is_refused(self, make_api_key, key_client, owner):
        _key, secret = make_api_key(["service"], owner=owner)
        owner.is_active = False
        owner.save()
        assert key_client(secret).get("/api/me/").status_code == 401

    def test_key_without_owner_is_a_program_identity(self, make_api_key, key_client):
        key, secret = make_api_key(["service"])
        body = key_client(secret).get("/api/me/").json()
        assert body["username"] == f"api-key:{key.prefix}"
        assert body["is_staff"] is False

    def test_last_used_is_recorded(self, make_api_key, key_client):
        key, secret = make_api_key(["service"])
        key_client(secret).get("/api/me/")
        key.refresh_from_db()
        assert key.last_used is not None

    def test_a_key_is_never_staff_even_for_a_staff_owner(self, make_api_key, key_client, staff_user):
        # Staff-only endpoints refuse keys: IsStaff needs a staff *user*, and a
        # key acting for one is still scope-limited.
        _key, secret = make_api_key(["worker"], owner=staff_user)
        assert key_client(secret).post("/api/system/tasks/selfcheck/").status_code == 403


class WorkerOnlyView(APIView):
    api_key_scopes = ("worker",)
    users_allowed = False

    def get(self, request):
        return Response({"ok": True})


class ServiceView(APIView):
    def get(self, request):
        return Response({"ok": True})


class TestScopes:
    factory = APIRequestFactory()

    def call(self, view, **headers):
        return view.as_view()(self.factory.get("/x", **headers))

    def test_scope_is_enforced_on_default_endpoints(self, make_api_key):
        _key, worker_secret = make_api_key(["worker"])
        _key, service_secret = make_api_key(["service"])
        refused = self.call(ServiceView, HTTP_AUTHORIZATION=f"Api-Key {worker_secret}")
        assert refused.status_code == 403
        assert "service" in refused.data["error"]["message"]
        assert self.call(ServiceView, HTTP_AUTHORIZATION=f"Api-Key {service_secret}").status_code == 200

    def test_worker_endpoint_accepts_worker_key_only(self, make_api_key):
        _key, worker_secret = make_api_key(["worker"])
        _key, service_secret = make_api_key(["service"])
        assert self.call(WorkerOnlyView, HTTP_X_API_KEY=worker_secret).status_code == 200
        assert self.call(WorkerOnlyView, HTTP_X_API_KEY=service_secret).status_code == 403

    def test_worker_endpoint_refuses_users(self, staff_user):
        access = obtain_tokens(APIClient(), staff_user.username).json()["access"]
        response = self.call(WorkerOnlyView, HTTP_AUTHORIZATION=f"Bearer {access}")
        assert response.status_code == 403
        assert "only API keys" in response.data["error"]["message"]

    def test_key_with_several_scopes(self, make_api_key):
        _key, secret = make_api_key(["worker", "service"])
        assert self.call(WorkerOnlyView, HTTP_X_API_KEY=secret).status_code == 200
        assert self.call(ServiceView, HTTP_X_API_KEY=secret).status_code == 200

    def test_unknown_scope_is_rejected_at_creation(self, make_api_key):
        from aiplatform.errors import InvalidInput

        with pytest.raises(InvalidInput) as excinfo:
            make_api_key(["superpowers"])
        assert excinfo.value.field == "scopes"


class TestSession:
    def test_session_login_reaches_the_api(self, client, owner):
        assert client.login(username=owner.username, password=PASSWORD)
        response = client.get("/api/me/", HTTP_ACCEPT="application/json")
        assert response.status_code == 200
        assert response.json()["authenticated_by"] == "session"

    def test_session_post_needs_csrf(self, staff_user):
        from django.test import Client

        csrf_client = Client(enforce_csrf_checks=True)
        csrf_client.login(username=staff_user.username, password=PASSWORD)
        response = csrf_client.post("/api/system/tasks/selfcheck/")
        assert response.status_code == 403
        assert "CSRF" in response.json()["error"]["message"]
