"""create_inference_worker and reap_pathology_leases: what an operator runs."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from aiplatform.models import PlatformAPIKey
from pathology.choices import RequestStatus
from pathology.models import InferenceWorker, PathologyRequest
from pathology.services import protocol

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _expire(request) -> None:
    PathologyRequest.objects.filter(pk=request.pk).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))


def test_create_inference_worker_prints_a_worker_key_once(key_client, make_request):
    out, err = run("create_inference_worker", "lab-gpu-01")

    secret = out.strip()
    worker = InferenceWorker.objects.get(name="lab-gpu-01")
    key = worker.api_key
    assert key.scopes == ["worker"] and key.owner is None and key.expiry_date is None
    assert secret.startswith(key.prefix + ".") and "\n" not in secret
    assert secret not in err and "cannot be shown again" in err and key.prefix in err
    # The key works on the worker endpoints, as the worker just registered.
    request = make_request()
    client = key_client(secret, header="x-api-key")
    assert client.get("/api/pathology/pending-requests/").json()["count"] == 1
    claimed = client.post(f"/api/pathology/update-status/{request.pk}/", {"status": "processing"}, format="json")
    assert claimed.status_code == 200 and claimed.json()["request"]["worker"] == "lab-gpu-01"
    assert InferenceWorker.objects.count() == 1
    # And nowhere else.
    assert client.get("/api/pathology/requests/").status_code == 403


def test_create_inference_worker_with_expiry():
    run("create_inference_worker", "lab-gpu-02", "--expires-in-days", "30")

    expiry = InferenceWorker.objects.get(name="lab-gpu-02").api_key.expiry_date
    assert dt.timedelta(days=29) < expiry - timezone.now() <= dt.timedelta(days=30)


def test_create_inference_worker_refuses_a_taken_or_bad_name(settings):
    run("create_inference_worker", "lab-gpu-01")

    with pytest.raises(CommandError, match="already exists"):
        run("create_inference_worker", "lab-gpu-01")
    with pytest.raises(CommandError, match="1 to 64"):
        run("create_inference_worker", " ")
    with pytest.raises(CommandError, match="1 to 64"):
        run("create_inference_worker", "x" * 65)
    with pytest.raises(CommandError, match="PATHOLOGY_SERVER_WORKER"):
        run("create_inference_worker", settings.PATHOLOGY_SERVER_WORKER)

    assert list(InferenceWorker.objects.values_list("name", flat=True)) == ["lab-gpu-01"]
    assert PlatformAPIKey.objects.count() == 1


def test_reap_pathology_leases_requeues_and_fails_expired_requests(make_worker, make_request):
    worker, _ = make_worker("gpu-01")
    retried = make_request(slide_file="retry.svs")
    exhausted = make_request(slide_file="exhausted.svs")
    alive = make_request(slide_file="alive.svs")
    make_request(slide_file="waiting.svs")  # never claimed: untouched
    for request in (retried, exhausted, alive):
        protocol.request_update_status(worker=worker, request_id=request.pk, status=RequestStatus.PROCESSING)
    PathologyRequest.objects.filter(pk=exhausted.pk).update(max_attempts=1)
    _expire(retried)
    _expire(exhausted)

    out, _err = run("reap_pathology_leases")

    assert out == "1 requeued, 1 failed\n"
    status = dict(PathologyRequest.objects.values_list("slide_file", "status"))
    assert status == {
        "retry.svs": RequestStatus.PENDING,
        "exhausted.svs": RequestStatus.FAILED,
        "alive.svs": RequestStatus.PROCESSING,
        "waiting.svs": RequestStatus.PENDING,
    }
    retried.refresh_from_db()
    assert (retried.worker, retried.attempts, retried.lease_expires_at) == (None, 1, None)
    assert run("reap_pathology_leases")[0] == "0 requeued, 0 failed\n"
