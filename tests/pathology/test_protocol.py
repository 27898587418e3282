"""The worker protocol on a real database: one winner per claim, leases that
return a dead worker's request to the queue, completions only from the
holder, and long-polls that answer as soon as there is work."""

import datetime as dt
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext

from aiplatform.errors import Conflict, InvalidInput
from pathology.choices import RequestStatus
from pathology.models import InferenceWorker, PathologyRequest
from pathology.services import protocol, requests

from .conftest import RESULT, png

PROCESSING = RequestStatus.PROCESSING


def _expire(request):
    PathologyRequest.objects.filter(pk=request.pk).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))


def test_claim_renew_and_complete(make_worker, make_request, settings):
    settings.PATHOLOGY_LEASE_SECONDS = 60
    worker, _ = make_worker("gpu-01")
    request = make_request(priority=5)

    claimed = protocol.request_update_status(worker=worker, request_id=request.pk, status=PROCESSING, progress=10)
    first_lease = claimed.lease_expires_at
    time.sleep(0.01)
    renewed = protocol.request_update_status(
        worker=worker, request_id=request.pk, status=PROCESSING, progress=60, message="패치 분석"
    )
    done, stored = protocol.request_complete(worker=worker, request_id=request.pk, result=RESULT, heatmap=png())

    assert (claimed.status, claimed.worker, claimed.attempts) == (PROCESSING, worker, 1)
    assert first_lease > timezone.now() + dt.timedelta(seconds=50)
    assert renewed.lease_expires_at > first_lease and (renewed.progress, renewed.message) == (60, "패치 분석")
    assert stored and done.status == RequestStatus.COMPLETED and done.result == RESULT
    assert done.heatmap.read() == png() and done.lease_expires_at is None and done.progress == 100
    assert InferenceWorker.objects.get(pk=worker.pk).current_request is None


def test_a_second_claim_is_refused_with_the_holder(make_worker, make_request):
    first, _ = make_worker("gpu-01")
    second, _ = make_worker("gpu-02")
    request = make_request()
    protocol.request_update_status(worker=first, request_id=request.pk, status=PROCESSING)

    with pytest.raises(Conflict) as caught:
        protocol.request_update_status(worker=second, request_id=request.pk, status=PROCESSING)

    assert caught.value.code == "not_holder"
    assert caught.value.extra == {"current_status": "processing", "holder": "gpu-01"}


@pytest.mark.django_db(transaction=True)
def test_racing_workers_claim_every_request_exactly_once(make_worker, make_request):
    """Eight workers on their own database connections try to claim the same
    twenty requests at the same moment."""
    workers = [make_worker(f"gpu-{n:02d}")[0] for n in range(8)]
    pending = [make_request() for _ in range(20)]
    won: dict = {request.pk: [] for request in pending}
    lost = []
    errors = []
    barrier = threading.Barrier(len(workers))

    def work(worker):
        try:
            barrier.wait()
            for request in pending:
                try:
                    protocol.request_update_status(worker=worker, request_id=request.pk, status=PROCESSING)
                    won[request.pk].append(worker.name)
                except Conflict:
                    lost.append(worker.name)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert all(len(winners) == 1 for winners in won.values()), won
    assert len(lost) == 20 * 7
    rows = PathologyRequest.objects.values_list("pk", "worker__name", "attempts")
    assert {pk: name for pk, name, _ in rows} == {pk: winners[0] for pk, winners in won.items()}
    assert {attempts for _, _, attempts in rows} == {1}


def test_a_dead_workers_request_returns_to_the_queue_and_its_late_completion_is_refused(make_worker, make_request):
    dead, _ = make_worker("gpu-dead")
    alive, _ = make_worker("gpu-alive")
    request = make_request()
    protocol.request_update_status(worker=dead, request_id=request.pk, status=PROCESSING)
    _expire(request)

    listed = protocol.requests_claimable(limit=10)
    assert [row.pk for row in listed] == [request.pk]
    requeued = PathologyRequest.objects.get(pk=request.pk)
    assert (requeued.status, requeued.worker, requeued.attempts) == (RequestStatus.PENDING, None, 1)

    protocol.request_update_status(worker=alive, request_id=request.pk, status=PROCESSING)
    with pytest.raises(Conflict) as late_report:
        protocol.request_update_status(worker=dead, request_id=request.pk, status=PROCESSING, progress=90)
    done, stored = protocol.request_complete(worker=alive, request_id=request.pk, result=RESULT, heatmap=None)
    with pytest.raises(Conflict) as late_completion:
        protocol.request_complete(
            worker=dead, request_id=request.pk, result={**RESULT, "label": "normal"}, heatmap=png()
        )

    assert late_report.value.extra["holder"] == "gpu-alive"
    assert late_completion.value.code == "request_completed"
    done.refresh_from_db()
    assert stored and (done.worker, done.attempts, done.result["label"]) == (alive, 2, "tumor")
    assert not done.heatmap


def test_a_request_fails_after_max_attempts(make_worker, make_request, settings):
    settings.PATHOLOGY_MAX_ATTEMPTS = 2
    worker, _ = make_worker("gpu-01")
    request = make_request()
    for _attempt in range(2):
        protocol.request_update_status(worker=worker, request_id=request.pk, status=PROCESSING)
        _expire(request)
        protocol.leases_reap()

    request.refresh_from_db()
    assert request.status == RequestStatus.FAILED and request.attempts == 2
    assert "lease" in request.error and request.finished_at is not None
    assert protocol.requests_claimable(limit=10) == []


def test_the_holder_fails_a_request_with_its_error(make_worker, make_request):
    worker, _ = make_worker("gpu-01")
    other, _ = make_worker("gpu-02")
    request = make_request()
    protocol.request_update_status(worker=worker, request_id=request.pk, status=PROCESSING)

    with pytest.raises(Conflict):
        protocol.request_update_status(worker=other, request_id=request.pk, status="failed", message="no")
    failed = protocol.request_update_status(
        worker=worker, request_id=request.pk, status="failed", message="SVS not found in Orthanc"
    )

    assert (failed.status, failed.error) == (RequestStatus.FAILED, "SVS not found in Orthanc")
    with pytest.raises(Conflict) as caught:
        protocol.request_complete(worker=worker, request_id=request.pk, result=RESULT, heatmap=None)
    assert caught.value.code == "request_failed"


def test_cancel_stops_the_holder_at_its_next_report(make_worker, make_request):
    worker, _ = make_worker("gpu-01")
    request = make_request()
    protocol.request_update_status(worker=worker, request_id=request.pk, status=PROCESSING)

    requests.request_cancel(request=request)

    with pytest.raises(Conflict) as caught:
        protocol.request_update_status(worker=worker, request_id=request.pk, status=PROCESSING, progress=50)
    assert caught.value.code == "request_cancelled"
    with pytest.raises(Conflict):
        requests.request_cancel(request=request)


def test_the_same_completion_twice_is_harmless(make_worker, make_request, media):
    worker, _ = make_worker("gpu-01")
    request = make_request()
    protocol.request_update_status(worker=worker, request_id=request.pk, status=PROCESSING)

    first, stored = protocol.request_complete(worker=worker, request_id=request.pk, result=RESULT, heatmap=png())
    again, stored_again = protocol.request_complete(worker=worker, request_id=request.pk, result=RESULT, heatmap=png())

    assert stored and not stored_again
    assert again.heatmap.name == first.heatmap.name
    assert len(list((media / "pathology" / "heatmaps").iterdir())) == 1


def test_the_holder_hands_a_request_back_to_the_queue(make_worker, make_request, settings):
    settings.PATHOLOGY_MAX_ATTEMPTS = 2
    worker, _ = make_worker("gpu-01")
    other, _ = make_worker("gpu-02")
    request = make_request()
    protocol.request_update_status(worker=worker, request_id=request.pk, status=PROCESSING, progress=3)

    with pytest.raises(Conflict):
        protocol.request_update_status(worker=other, request_id=request.pk, status="pending")
    back = protocol.request_update_status(
        worker=worker, request_id=request.pk, status="pending", message="Orthanc is not reachable"
    )

    assert (back.status, back.worker, back.attempts, back.progress) == (RequestStatus.PENDING, None, 1, 0)
    assert back.message == "Orthanc is not reachable" and back.lease_expires_at is None
    worker.refresh_from_db()
    assert worker.current_request is None
    assert [r.pk for r in protocol.requests_claimable(limit=10)] == [request.pk]

    # Handed back on its last attempt, it fails rather than circle for ever.
    protocol.request_update_status(worker=other, request_id=request.pk, status=PROCESSING)
    ended = protocol.request_update_status(worker=other, request_id=request.pk, status="pending", message="down")
    assert (ended.status, ended.attempts) == (RequestStatus.FAILED, 2)
    assert "Handed back on every attempt" in ended.error and "down" in ended.error
    with pytest.raises(Conflict):
        protocol.request_update_status(worker=other, request_id=request.pk, status="pending")


def test_a_worker_reports_only_processing_failed_or_pending(make_worker, make_request):
    worker, _ = make_worker("gpu-01")
    with pytest.raises(InvalidInput) as caught:
        protocol.request_update_status(worker=worker, request_id=make_request().pk, status="completed")
    assert caught.value.field == "status"


def test_claimable_requests_come_by_priority_then_age(make_request):
    low = make_request(priority=0)
    high = make_request(priority=9)
    later_low = make_request(priority=0)

    assert [row.pk for row in protocol.requests_claimable(limit=10)] == [high.pk, low.pk, later_low.pk]
    assert len(protocol.requests_claimable(limit=2)) == 2


@pytest.mark.django_db(transaction=True)
def test_long_poll_answers_within_a_second_of_a_new_request(make_request, settings):
    settings.PATHOLOGY_POLL_SECONDS = 0.1
    created_at = []

    def create_later():
        time.sleep(0.6)
        created_at.append(time.monotonic())
        make_request()
        connection.close()

    thread = threading.Thread(target=create_later)
    started = time.monotonic()
    thread.start()
    rows = protocol.requests_claimable(limit=5, wait=10)
    answered = time.monotonic()
    thread.join()

    assert len(rows) == 1
    assert answered - created_at[0] < 1.0
    assert answered - started < 5


def test_long_poll_returns_empty_at_its_bound(db, settings):
    settings.PATHOLOGY_POLL_SECONDS = 0.1
    started = time.monotonic()

    rows = protocol.requests_claimable(limit=5, wait=1)

    elapsed = time.monotonic() - started
    assert rows == [] and 1.0 <= elapsed < 1.6


def test_a_worker_is_registered_by_its_key_and_seen(make_worker, make_api_key):
    key, _ = make_api_key(["worker"], name="gpu-09")

    worker = protocol.worker_for_key(api_key=key, host="lab-3", device="cuda:0", version="1.2")
    again = protocol.worker_for_key(api_key=key, host="lab-3")

    assert again.pk == worker.pk
    assert (again.name, again.host, again.device, again.version) == ("gpu-09", "lab-3", "cuda:0", "1.2")
    assert again.last_seen is not None


@pytest.mark.parametrize("ending", ["reap", "cancel", "requeue"])
def test_a_worker_no_longer_holds_what_was_taken_from_it(make_worker, make_request, ending):
    worker, _ = make_worker("gpu-01")
    request = make_request()
    protocol.request_update_status(worker=worker, request_id=request.pk, status=PROCESSING)
    assert InferenceWorker.objects.get(pk=worker.pk).current_request_id == request.pk

    if ending == "reap":
        _expire(request)
        assert protocol.leases_reap() == (1, 0)
    elif ending == "cancel":
        requests.request_cancel(request=request)
    else:
        requests.request_requeue(request=request)

    assert InferenceWorker.objects.get(pk=worker.pk).current_request is None


def test_a_cancelled_requests_holder_is_told_it_is_cancelled(make_worker, make_request):
    worker, _ = make_worker("gpu-01")
    request = make_request()
    protocol.request_update_status(worker=worker, request_id=request.pk, status=PROCESSING)
    requests.request_cancel(request=request)

    with pytest.raises(Conflict) as caught:
        protocol.request_update_status(worker=worker, request_id=request.pk, status=PROCESSING)

    assert caught.value.message == "The request is cancelled; this worker does not hold it."


def test_a_new_claim_starts_without_the_earlier_attempts_message(make_worker, make_request):
    first, _ = make_worker("gpu-01")
    second, _ = make_worker("gpu-02")
    request = make_request()
    protocol.request_update_status(worker=first, request_id=request.pk, status=PROCESSING, progress=40)
    _expire(request)
    protocol.leases_reap()
    assert PathologyRequest.objects.get(pk=request.pk).message  # says it was requeued

    claimed = protocol.request_update_status(worker=second, request_id=request.pk, status=PROCESSING)

    assert (claimed.progress, claimed.message) == (0, "")


def test_a_finished_request_no_longer_says_claimed(make_worker, make_request):
    """The message is the last progress report while a request runs; once it
    has ended, it says so instead of "claimed" or "features 40/90"."""
    worker, _ = make_worker("gpu-01")
    done, failed, cancelled = make_request(), make_request(), make_request()
    for request in (done, failed, cancelled):
        protocol.request_update_status(worker=worker, request_id=request.pk, status=PROCESSING, message="claimed")

    completed, _stored = protocol.request_complete(worker=worker, request_id=done.pk, result=RESULT, heatmap=None)
    ended = protocol.request_update_status(worker=worker, request_id=failed.pk, status="failed", message="no tissue")
    stopped = requests.request_cancel(request=cancelled)

    assert (completed.status, completed.message) == (RequestStatus.COMPLETED, gettext("Completed."))
    assert (ended.status, ended.message, ended.error) == (RequestStatus.FAILED, gettext("Failed."), "no tissue")
    assert (stopped.status, stopped.message) == (RequestStatus.CANCELLED, gettext("Cancelled."))


def test_a_request_failed_by_its_lease_no_longer_says_claimed(make_worker, make_request, settings):
    settings.PATHOLOGY_MAX_ATTEMPTS = 1
    worker, _ = make_worker("gpu-01")
    request = make_request()
    protocol.request_update_status(worker=worker, request_id=request.pk, status=PROCESSING, message="claimed")
    _expire(request)

    protocol.leases_reap()

    request.refresh_from_db()
    assert (request.status, request.message) == (RequestStatus.FAILED, gettext("Failed."))


def test_a_worker_is_offered_only_requests_it_can_open(make_request):
    by_file = make_request(slide_file="a.svs")
    by_series = make_request(slide_file="", orthanc_series_id="s-1")
    both = make_request(slide_file="b.svs", orthanc_instance_id="i-1")
    uploaded = make_request(slide_file="up.svs")
    PathologyRequest.objects.filter(pk=uploaded.pk).update(slide_uploaded=True)

    def offered(sources):
        return {r.pk for r in protocol.requests_claimable(limit=10, sources=sources)}

    assert offered(None) == {by_file.pk, by_series.pk, both.pk, uploaded.pk}
    assert offered(("file", "upload")) == {by_file.pk, both.pk, uploaded.pk}
    assert offered(("orthanc", "upload")) == {by_series.pk, both.pk, uploaded.pk}
    assert offered(("upload",)) == {uploaded.pk}
    assert offered(()) == set()


def test_a_completion_with_images_that_are_not_is_refused(make_worker, make_request, media):
    """The server's own pipeline hands its images straight to request_complete: they are checked there too."""
    worker, _ = make_worker("gpu-01")
    request = make_request()
    protocol.request_update_status(worker=worker, request_id=request.pk, status=PROCESSING)

    with pytest.raises(InvalidInput) as caught:
        protocol.request_complete(
            worker=worker, request_id=request.pk, result=RESULT, heatmap=png(), tiles=[b"not an image" * 4]
        )

    assert caught.value.field == "tiles.0"
    request.refresh_from_db()
    assert request.status == PROCESSING and not (media / "pathology").exists()
