"""Personas shared by every app's tests: owner, other user, staff,
anonymous, and API keys with scopes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from aiplatform import services
from tests.factories import StaffFactory, UserFactory
from tests.support.browser import browser  # noqa: F401
from tests.support.openai_server import openai_server  # noqa: F401
from tests.support.orthanc import orthanc_server  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
# The SQLite test database is a file under var/ (see settings: worker
# processes started by tests must see it).
(ROOT / "var").mkdir(exist_ok=True)


def pytest_sessionfinish(session, exitstatus):
    # Django removes a SQLite test database's file but not its write-ahead
    # log and shared-memory files: remove those whose database is gone.
    for leftover in [*(ROOT / "var").glob("test-db-*-wal"), *(ROOT / "var").glob("test-db-*-shm")]:
        database = leftover.with_name(leftover.name.rsplit("-", 1)[0])
        if not database.exists():
            leftover.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _english_unless_asked(settings):
    # The platform speaks Korean by default; tests read its messages in
    # English unless they ask for a language (the i18n tests do, and a
    # browser sends its own Accept-Language).
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness is not what these tests measure.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _files_in_tmp(settings, tmp_path):
    # Model files and uploads of a test go to its own directory, whichever
    # app's test writes them (load_demo trains a model, for one).
    from modeltrainer.predictor import active_model

    settings.MODEL_STORAGE_DIR = tmp_path / "models"
    settings.MEDIA_ROOT = tmp_path / "media"
    active_model.forget()
    yield
    active_model.forget()


@pytest.fixture(autouse=True)
def _clear_cache():
    # Throttle counters live in the cache; each test starts with none.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def owner(db):
    return UserFactory(username="owner")


@pytest.fixture
def other_user(db):
    return UserFactory(username="other")


@pytest.fixture
def staff_user(db):
    return StaffFactory(username="staff")


@pytest.fixture
def anon_client():
    return APIClient()


def _client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def owner_client(owner):
    return _client_for(owner)


@pytest.fixture
def staff_client(staff_user):
    return _client_for(staff_user)


@pytest.fixture
def make_api_key(db):
    """make_api_key(["worker"], owner=None, **kw) -> (key object, secret)."""

    def make(scopes, owner=None, name="test key", **kwargs):
        return services.api_key_create(name=name, scopes=scopes, owner=owner, **kwargs)

    return make


@pytest.fixture
def key_client():
    """key_client(secret, header="authorization"|"x-api-key") -> APIClient."""

    def make(secret: str, header: str = "authorization") -> APIClient:
        client = APIClient()
        if header == "authorization":
            client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
        else:
            client.credentials(HTTP_X_API_KEY=secret)
        return client

    return make


def database_url_for_subprocess() -> str:
    """The URL of the database the current test uses (the test database), so
    that a worker or server process started by the test shares it."""
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    if connection.vendor == "mysql":
        password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
        return f"mysql://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 3306}/{s['NAME']}"
    raise NotImplementedError(connection.vendor)


def manage(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run manage.py in a child process with this test's database."""
    full_env = {**os.environ, "DATABASE_URL": database_url_for_subprocess(), **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def pytest_configure(config):
    # The catalogs are compiled by scripts/run and scripts/test; a developer
    # running pytest directly gets them compiled here when a .po is newer.
    if hasattr(config, "workerinput"):
        return
    stale = [
        po
        for po in (ROOT / "locale").glob("*/LC_MESSAGES/*.po")
        if not po.with_suffix(".mo").exists() or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime
    ]
    if stale:
        subprocess.run(
            [sys.executable, "manage.py", "compilemessages", "-v0", "-i", ".venv", "-i", "var"], cwd=ROOT, check=True
        )
