"""/healthz and /readyz, including a process whose database is unreachable."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.django_db


def test_healthz_is_public_and_touches_no_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_reports_every_check(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "migrations", "tasks"}
    assert all(check["ok"] for check in body["checks"].values())


def readyz_in_process_with(database_url: str) -> tuple[int, dict]:
    """GET /readyz in a fresh process configured with the given database."""
    code = (
        "import django, json; django.setup(); from django.test import Client; "
        "r = Client().get('/readyz', HTTP_HOST='localhost'); print(r.status_code); print(r.content.decode())"
    )
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "aiplatform.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    return int(lines[-2]), json.loads(lines[-1])


def test_readyz_names_the_database_when_sqlite_file_cannot_be_opened(tmp_path):
    status, body = readyz_in_process_with(f"sqlite:///{tmp_path}/missing-dir/db.sqlite3")
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["failing"][0] == "database"
    assert "unable to open database file" in body["checks"]["database"]["error"]
    assert body["checks"]["migrations"]["error"].startswith("skipped")


def test_readyz_names_the_database_when_mysql_server_does_not_answer():
    pytest.importorskip("MySQLdb")
    # Port 9 (discard) on loopback: nothing listens there.
    status, body = readyz_in_process_with("mysql://root@127.0.0.1:9/nothing")
    assert status == 503
    assert "database" in body["failing"]
    assert "OperationalError" in body["checks"]["database"]["error"]


def test_readyz_names_unapplied_migrations(tmp_path):
    status, body = readyz_in_process_with(f"sqlite:///{tmp_path}/empty.sqlite3")
    assert status == 503
    assert "migrations" in body["failing"]
    assert body["checks"]["database"]["ok"] is True
    assert "not applied" in body["checks"]["migrations"]["error"]
