"""One error format for every 4xx/5xx; strict pagination and filters."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import path
from django_filters import rest_framework as filters
from rest_framework import generics, serializers
from rest_framework.views import APIView

from aiplatform.api.pagination import StandardCursorPagination
from aiplatform.errors import Conflict, UpstreamTimeout, UpstreamUnavailable

pytestmark = pytest.mark.django_db


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username"]


class UserFilterSet(filters.FilterSet):
    joined = filters.DateFromToRangeFilter(field_name="date_joined")

    class Meta:
        model = get_user_model()
        fields = ["username", "is_staff"]


class UserList(generics.ListAPIView):
    queryset = get_user_model().objects.order_by("id")
    serializer_class = UserSerializer
    filterset_class = UserFilterSet


class UserCursorList(UserList):
    pagination_class = StandardCursorPagination

    class Pagination(StandardCursorPagination):
        ordering = "-date_joined"

    pagination_class = Pagination


class NestedInput(serializers.Serializer):
    class Item(serializers.Serializer):
        text = serializers.CharField(max_length=5)

    question = serializers.CharField()
    items = Item(many=True)


class Echo(APIView):
    def post(self, request):
        NestedInput(data=request.data).is_valid(raise_exception=True)
        return None


class Raises(APIView):
    errors = {
        "conflict": Conflict("Already claimed.", extra={"holder": "w1"}),
        "unavailable": UpstreamUnavailable("Model server down."),
        "timeout": UpstreamTimeout("Model server too slow.", field="question"),
    }

    def get(self, request, kind):
        if kind == "crash":
            raise RuntimeError("secret internal detail")
        raise self.errors[kind]


# The project's error handlers, as Django looks them up on the URLconf.
from aiplatform.urls import handler404, handler500  # noqa: E402, F401

urlpatterns = [
    path("api/users/", UserList.as_view()),
    path("api/users-cursor/", UserCursorList.as_view()),
    path("api/echo/", Echo.as_view()),
    path("api/raises/<str:kind>/", Raises.as_view()),
]


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__


def test_validation_error_names_nested_fields(owner_client):
    response = owner_client.post("/api/echo/", {"items": [{"text": "ok"}, {"text": "too long"}]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"question", "items.1.text"}
    assert error["message"].startswith("question: ")


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("conflict", 409, "conflict"), ("unavailable", 503, "unavailable"), ("timeout", 504, "upstream_timeout")],
)
def test_domain_errors_map_to_status_codes(owner_client, kind, status, code):
    response = owner_client.get(f"/api/raises/{kind}/")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_domain_error_extra_and_field(owner_client):
    assert owner_client.get("/api/raises/conflict/").json()["error"]["holder"] == "w1"
    assert owner_client.get("/api/raises/timeout/").json()["error"]["fields"] == {
        "question": ["Model server too slow."]
    }


def test_unexpected_exception_is_json_500_without_traceback(owner):
    from rest_framework.test import APIClient

    client = APIClient(raise_request_exception=False)
    client.force_authenticate(owner)
    response = client.get("/api/raises/crash/")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"status": 500, "code": "server_error", "message": "Internal server error; it has been logged."}
    }
    assert b"secret internal detail" not in response.content
    assert b"Traceback" not in response.content


def test_unknown_api_path_is_json_404(owner_client):
    response = owner_client.get("/api/nowhere/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


class TestPagination:
    @pytest.fixture(autouse=True)
    def _users(self, owner):
        get_user_model().objects.bulk_create(get_user_model()(username=f"u{i:02}") for i in range(30))

    def test_limit_offset(self, owner_client):
        body = owner_client.get("/api/users/?limit=10&offset=5").json()
        assert body["count"] == 31
        assert len(body["results"]) == 10
        assert body["next"] and body["previous"]

    @pytest.mark.parametrize(
        ("query", "field"),
        [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=abc", "limit"), ("offset=-1", "offset")],
    )
    def test_out_of_range_is_400_naming_the_parameter(self, owner_client, query, field):
        response = owner_client.get(f"/api/users/?{query}")
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == [field]

    def test_cursor_pagination_walks_every_row_once(self, owner_client):
        seen, url = [], "/api/users-cursor/?limit=7"
        while url:
            body = owner_client.get(url).json()
            seen += [row["id"] for row in body["results"]]
            url = body["next"]
        assert len(seen) == len(set(seen)) == 31


class TestStrictFilters:
    def test_known_filter_applies(self, owner_client, staff_user):
        body = owner_client.get("/api/users/?is_staff=true").json()
        assert [row["username"] for row in body["results"]] == ["staff"]

    def test_range_filter_suffixes_are_known(self, owner_client):
        assert owner_client.get("/api/users/?joined_after=2020-01-01").status_code == 200

    def test_unknown_parameter_is_400_naming_it(self, owner_client):
        response = owner_client.get("/api/users/?user=x&limit=5")
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {"user": ["Unknown query parameter."]}

    def test_malformed_value_names_the_filter(self, owner_client):
        response = owner_client.get("/api/users/?joined_after=not-a-date")
        assert response.status_code == 400
        assert "joined" in response.json()["error"]["fields"]
