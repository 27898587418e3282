"""create_api_key, ensure_admin, load_demo: what an operator runs."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from aiplatform.models import PlatformAPIKey

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_key_prints_a_working_key_once(key_client, owner):
    out, err = run("create_api_key", "--name", "lab-gpu-01", "--scope", "service", "--owner", "owner")
    secret = out.strip()
    key = PlatformAPIKey.objects.get(name="lab-gpu-01")
    assert key.scopes == ["service"] and key.owner == owner
    assert secret.startswith(key.prefix + ".")
    assert "cannot be shown again" in err
    assert key_client(secret, "x-api-key").get("/api/me/").json()["username"] == "owner"


def test_create_api_key_with_several_scopes_and_expiry():
    run(
        "create_api_key",
        "--name",
        "ops",
        "--scope",
        "worker",
        "--scope",
        "monitoring:control",
        "--expires-in-days",
        "30",
    )
    key = PlatformAPIKey.objects.get(name="ops")
    assert key.scopes == ["monitoring:control", "worker"]
    assert key.expiry_date is not None and key.owner is None


def test_create_api_key_rejects_unknown_scope_and_owner():
    with pytest.raises(CommandError):
        run("create_api_key", "--name", "x", "--scope", "root")
    with pytest.raises(CommandError, match="No user named"):
        run("create_api_key", "--name", "x", "--scope", "service", "--owner", "ghost")


def test_ensure_admin_creates_once_with_a_random_password(client):
    first, _ = run("ensure_admin")
    password = re.search(r"admin / (\S+)", first).group(1)
    assert len(password) >= 12
    assert client.login(username="admin", password=password)
    assert get_user_model().objects.get(username="admin").is_superuser

    second, _ = run("ensure_admin")
    assert "already exists" in second
    assert password not in second
    assert get_user_model().objects.filter(username="admin").count() == 1


def test_two_admins_get_different_passwords():
    a, _ = run("ensure_admin", "--username", "a1")
    b, _ = run("ensure_admin", "--username", "a2")
    assert re.search(r"a1 / (\S+)", a).group(1) != re.search(r"a2 / (\S+)", b).group(1)


def test_load_demo_is_idempotent():
    first, _ = run("load_demo")
    assert "created user 'demo'" in first
    second, _ = run("load_demo")
    assert "exists" in second
    assert get_user_model().objects.filter(username="demo", is_staff=False).count() == 1


def test_revoke_api_key_stops_the_key(make_api_key, key_client):
    key, secret = make_api_key(["service"])
    assert key_client(secret).get("/api/me/").status_code == 200
    out, _ = run("revoke_api_key", "--prefix", key.prefix)
    assert key.prefix in out
    assert key_client(secret).get("/api/me/").status_code == 401
    with pytest.raises(CommandError, match="No active API key"):
        run("revoke_api_key", "--prefix", key.prefix)


def test_task_worker_refuses_the_immediate_backend(settings):
    settings.TASKS_BACKEND = "immediate"
    with pytest.raises(CommandError, match="no worker to start"):
        run("task_worker")
