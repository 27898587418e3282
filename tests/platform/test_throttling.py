"""Rate limits per user, per API key, per address for anonymous callers."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_rates(settings):
    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = {"principal": "3/min", "anonymous": "2/min"}
    settings.REST_FRAMEWORK = rest


def test_user_is_throttled_after_the_rate(low_rates, owner_client):
    assert [owner_client.get("/api/me/").status_code for _ in range(3)] == [200, 200, 200]
    response = owner_client.get("/api/me/")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_each_key_and_each_user_has_its_own_bucket(low_rates, make_api_key, key_client, owner_client, other_user):
    _k1, first = make_api_key(["service"], name="one")
    _k2, second = make_api_key(["service"], name="two")
    for _ in range(3):
        assert key_client(first).get("/api/me/").status_code == 200
    assert key_client(first).get("/api/me/").status_code == 429
    assert key_client(second).get("/api/me/").status_code == 200
    other = APIClient()
    other.force_authenticate(other_user)
    assert other.get("/api/me/").status_code == 200


def test_anonymous_callers_are_throttled_by_address(low_rates):
    client = APIClient()
    codes = [client.post("/api/auth/token/", {}, format="json").status_code for _ in range(3)]
    assert codes == [400, 400, 429]


def test_health_probes_are_never_throttled(low_rates, client):
    assert {client.get("/healthz").status_code for _ in range(10)} == {200}
