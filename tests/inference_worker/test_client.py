"""PathologyClient against the real platform (a live server): list, claim,
report, fail, complete, and what it does when the platform is away."""

import socket
import time

import pytest

from aiplatform.services import api_key_create
from inference_worker.client import PathologyClient, RequestLost, ServerUnavailable, WorkerAPIError
from pathology.choices import RequestStatus
from pathology.models import InferenceWorker
from pathology.services.requests import request_cancel, request_create
from tests.factories import UserFactory
from tests.support.pathology_pipeline import png

RESULT = {
    "label": "tumor",
    "probabilities": {"tumor": 0.8, "normal": 0.2},
    "top_regions": [{"x": 0, "y": 0, "score": 1.0}],
}


def client_for(api_url, name="lab-1", **kwargs):
    _key, secret = api_key_create(name=name, scopes=["worker"])
    options = {"timeout": 10, "retries": 1, "backoff": 0.01, **kwargs}
    return PathologyClient(api_url, secret, host=f"{name}.lab", device="cpu", version="1.0.0", **options)


def test_list_claim_report_complete(api_url):
    created = request_create(requested_by=UserFactory(), slide_file="x.svs")
    client = client_for(api_url)

    rows = client.pending(limit=5, wait=0)
    assert [row["request_id"] for row in rows] == [str(created.pk)]
    assert client.claim(rows[0]["request_id"]) is True
    client.progress(str(created.pk), 40, "patches 4/10")
    created.refresh_from_db()
    assert (created.status, created.progress, created.message) == (RequestStatus.PROCESSING, 40, "patches 4/10")

    answer = client.complete(str(created.pk), RESULT, png())
    again = client.complete(str(created.pk), RESULT, png())

    assert (answer["stored"], again["stored"]) == (True, False)
    created.refresh_from_db()
    assert created.status == RequestStatus.COMPLETED
    assert created.result["label"] == "tumor"
    assert created.heatmap.read().startswith(b"\x89PNG")
    worker = InferenceWorker.objects.get(name="lab-1")
    assert (worker.host, worker.device, worker.version) == ("lab-1.lab", "cpu", "1.0.0")


def test_long_poll_waits_then_answers_empty(api_url):
    client = client_for(api_url)

    started = time.monotonic()
    assert client.pending(limit=5, wait=1) == []
    assert time.monotonic() - started >= 0.9


def test_a_second_claim_loses(api_url):
    created = request_create(requested_by=UserFactory(), slide_file="x.svs")
    first, second = client_for(api_url, "lab-1"), client_for(api_url, "lab-2")

    assert first.claim(str(created.pk)) is True
    assert second.claim(str(created.pk)) is False
    with pytest.raises(RequestLost) as lost:
        second.progress(str(created.pk), 10, "not mine")
    assert lost.value.code == "not_holder"


def test_progress_after_cancel_raises_request_lost(api_url):
    created = request_create(requested_by=UserFactory(), slide_file="x.svs")
    client = client_for(api_url)
    client.claim(str(created.pk))

    request_cancel(request=created)

    with pytest.raises(RequestLost) as lost:
        client.progress(str(created.pk), 50, "halfway")
    assert (lost.value.code, lost.value.current_status) == ("request_cancelled", "cancelled")
    with pytest.raises(RequestLost):
        client.complete(str(created.pk), RESULT, png())


def test_fail_records_the_error(api_url):
    created = request_create(requested_by=UserFactory(), slide_file="x.svs")
    client = client_for(api_url)
    client.claim(str(created.pk))

    client.fail(str(created.pk), "SlideNotFound: x.svs")

    created.refresh_from_db()
    assert (created.status, created.error) == (RequestStatus.FAILED, "SlideNotFound: x.svs")


def test_a_refused_key_is_a_clear_error_not_a_retry(api_url):
    client = PathologyClient(api_url, "not-a-key", timeout=5, retries=3, backoff=5)

    started = time.monotonic()
    with pytest.raises(WorkerAPIError, match="WORKER_API_KEY") as refused:
        client.pending(limit=1, wait=0)
    assert refused.value.status in (401, 403)
    assert time.monotonic() - started < 2


def test_a_service_key_is_refused_with_a_hint(api_url):
    _key, secret = api_key_create(name="viewer", scopes=["service"])
    client = PathologyClient(api_url, secret, timeout=5)

    with pytest.raises(WorkerAPIError, match="`worker` scope"):
        client.pending(limit=1, wait=0)


def test_a_bad_result_is_refused_with_the_reason(api_url):
    created = request_create(requested_by=UserFactory(), slide_file="x.svs")
    client = client_for(api_url)
    client.claim(str(created.pk))

    with pytest.raises(WorkerAPIError) as refused:
        client.complete(str(created.pk), {"probabilities": "none"}, png())

    assert refused.value.status == 400
    created.refresh_from_db()
    assert created.status == RequestStatus.PROCESSING  # still held: the worker may send again


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_server_is_retried_a_bounded_number_of_times():
    client = PathologyClient(
        f"http://127.0.0.1:{closed_port()}/api/pathology", "k", timeout=2, connect_timeout=1, retries=3, backoff=0.05
    )

    started = time.monotonic()
    with pytest.raises(ServerUnavailable, match=r"could not be reached .* after 4 attempts: ConnectionError"):
        client.pending(limit=1, wait=0)
    assert time.monotonic() - started < 3
