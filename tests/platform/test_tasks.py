"""A task enqueued through the project's API runs in a real worker process
(db_worker; rqworker when Redis answers) and its result is readable."""

import os

import pytest
from django.test import override_settings

from tests.conftest import manage

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
# What every endpoint that starts a task answers, and the task's own endpoint.
TASK_FIELDS = {"task_id", "task", "status", "enqueued_at", "started_at", "finished_at", "return_value", "errors"}


def enqueue_selfcheck(client) -> dict:
    response = client.post("/api/system/tasks/selfcheck/")
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == TASK_FIELDS
    assert body["status"] == "READY"
    assert body["return_value"] is None
    return body


def assert_ran_in_worker(client, task_id: str, staff_user) -> dict:
    response = client.get(f"/api/system/tasks/{task_id}/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == TASK_FIELDS and body["task_id"] == task_id
    assert body["status"] == "SUCCESSFUL", body
    value = body["return_value"]
    assert value["pid"] != os.getpid()  # another process ran it
    assert value["requested_by"] == staff_user.pk
    assert value["users"] >= 1  # it read this test's database
    assert body["finished_at"] is not None
    return body


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_task_runs_in_db_worker(staff_client, staff_user):
    queued = enqueue_selfcheck(staff_client)
    pending = staff_client.get(f"/api/system/tasks/{queued['task_id']}/").json()
    assert pending["status"] == "READY"  # nothing runs it until a worker does

    done = manage("db_worker", "--batch", "--no-startup-delay")
    assert done.returncode == 0, done.stderr

    assert_ran_in_worker(staff_client, queued["task_id"], staff_user)


def redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.skipif(not redis_reachable(), reason=f"Redis not reachable at {REDIS_TEST_URL}")
@pytest.mark.django_db(transaction=True)
def test_task_runs_in_rq_worker(staff_client, staff_user):
    rq_tasks = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    with override_settings(TASKS=rq_tasks, RQ_QUEUES={"default": {"URL": REDIS_TEST_URL}}):
        queued = enqueue_selfcheck(staff_client)
        done = manage(
            "rqworker",
            "default",
            "--burst",
            "--job-class",
            "django_tasks_rq.Job",
            env={"TASKS_BACKEND": "rq", "REDIS_URL": REDIS_TEST_URL},
        )
        assert done.returncode == 0, done.stderr
        assert_ran_in_worker(staff_client, queued["task_id"], staff_user)


@pytest.mark.django_db
def test_unknown_task_is_404_naming_the_task_id(staff_client):
    response = staff_client.get("/api/system/tasks/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert response.json()["error"]["fields"] == {
        "task_id": ["No task with id '00000000-0000-0000-0000-000000000000'."]
    }


@pytest.mark.django_db
def test_task_endpoints_are_staff_only(owner_client):
    assert owner_client.post("/api/system/tasks/selfcheck/").status_code == 403


@pytest.mark.django_db
def test_task_times_and_the_selfcheck_ran_at_are_seoul_times(staff_client, settings):
    # The in-process backend runs the task at once, so its answer holds every time.
    settings.TASKS = {"default": settings.TASK_BACKENDS_AVAILABLE["immediate"]}

    body = staff_client.post("/api/system/tasks/selfcheck/").json()

    assert body["status"] == "SUCCESSFUL"
    times = [body["enqueued_at"], body["started_at"], body["finished_at"], body["return_value"]["ran_at"]]
    assert all(text.endswith("+09:00") for text in times), times
