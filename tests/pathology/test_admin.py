"""The admin: requests are read-only records that staff filter, requeue or
cancel, with the heatmap shown on a completed one; workers are listed."""

import pytest
from django.contrib import messages
from django.contrib.messages import get_messages

from aiplatform.errors import Conflict
from pathology.choices import RequestStatus
from pathology.models import PathologyRequest
from pathology.services import protocol

from .conftest import RESULT, jpeg, png

REQUESTS = "/admin/pathology/pathologyrequest/"
WORKERS = "/admin/pathology/inferenceworker/"


def _messages(response) -> list[tuple[int, str]]:
    return [(message.level, message.message) for message in get_messages(response.wsgi_request)]


def _claimed(worker, request) -> PathologyRequest:
    return protocol.request_update_status(worker=worker, request_id=request.pk, status=RequestStatus.PROCESSING)


def _failed(worker, request) -> PathologyRequest:
    _claimed(worker, request)
    return protocol.request_update_status(
        worker=worker, request_id=request.pk, status=RequestStatus.FAILED, message="slide not found"
    )


@pytest.fixture
def completed(make_worker, make_request):
    """A request completed by gpu-01 with a heatmap."""
    worker, _secret = make_worker("gpu-01")
    request = make_request(slide_file="done.svs")
    _claimed(worker, request)
    done, stored = protocol.request_complete(worker=worker, request_id=request.pk, result=RESULT, heatmap=png())
    assert stored and done.heatmap
    return done


def _act(admin_client, action: str, *requests):
    return admin_client.post(REQUESTS, {"action": action, "_selected_action": [str(r.pk) for r in requests]})


def test_request_changelist_filters_by_status_and_worker(admin_client, make_worker, make_request):
    gpu1, _ = make_worker("gpu-01")
    gpu2, _ = make_worker("gpu-02")
    waiting = make_request(slide_file="waiting.svs")
    held = _claimed(gpu1, make_request(slide_file="held.svs"))
    failed = _failed(gpu2, make_request(slide_file="failed.svs"))

    page = admin_client.get(REQUESTS)

    assert page.status_code == 200
    changelist = page.context["cl"]
    assert [spec.title for spec in changelist.filter_specs] == ["status", "worker", "priority"]
    assert changelist.date_hierarchy == "created_at"
    assert {row.pk for row in changelist.result_list} == {waiting.pk, held.pk, failed.pk}
    html = page.content.decode()
    assert "waiting.svs" in html and "held.svs" in html and "failed.svs" in html
    by_status = admin_client.get(REQUESTS, {"status__exact": RequestStatus.FAILED})
    assert [row.pk for row in by_status.context["cl"].result_list] == [failed.pk]
    by_worker = admin_client.get(REQUESTS, {"worker__id__exact": gpu1.pk})
    assert [row.pk for row in by_worker.context["cl"].result_list] == [held.pk]
    searched = admin_client.get(REQUESTS, {"q": "waiting"})
    assert [row.pk for row in searched.context["cl"].result_list] == [waiting.pk]


def test_worker_changelist_lists_workers_with_what_they_hold(admin_client, make_worker, make_request):
    gpu1, _ = make_worker("gpu-01")
    make_worker("gpu-02")
    held = _claimed(gpu1, make_request())

    page = admin_client.get(WORKERS)

    assert page.status_code == 200
    rows = page.context["cl"].result_list
    assert [row.name for row in rows] == ["gpu-01", "gpu-02"]
    assert rows[0].current_request_id == held.pk and rows[1].current_request_id is None
    assert admin_client.get(WORKERS, {"q": "gpu-02"}).context["cl"].result_count == 1


def test_changelists_are_for_staff_only(client, owner):
    client.force_login(owner)

    for path in (REQUESTS, WORKERS):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_completed_request_shows_its_heatmap_served_to_the_staff_session(admin_client, completed):
    url = f"/api/pathology/requests/{completed.pk}/heatmap/"

    page = admin_client.get(f"{REQUESTS}{completed.pk}/change/")

    assert page.status_code == 200
    assert f'<img src="{url}" style="max-width: 480px" alt="heatmap">' in page.content.decode()
    # Every field is read-only: a request is changed by its worker, not by a form.
    assert not page.context["adminform"].form.fields
    image = admin_client.get(url)
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content) == png()


def test_the_heatmap_is_shown_over_the_slides_thumbnail(admin_client, make_worker, make_request):
    worker, _ = make_worker("gpu-01")
    request = make_request()
    protocol.request_update_status(worker=worker, request_id=request.pk, status=RequestStatus.PROCESSING)
    done, _stored = protocol.request_complete(
        worker=worker, request_id=request.pk, result=RESULT, heatmap=png(), thumbnail=jpeg()
    )

    html = admin_client.get(f"{REQUESTS}{done.pk}/change/").content.decode()

    assert f'<img src="{done.thumbnail_url}"' in html and f'<img src="{done.heatmap_url}"' in html
    assert admin_client.get(done.thumbnail_url)["Content-Type"] == "image/jpeg"


def test_a_request_without_heatmap_shows_no_image(admin_client, make_request):
    request = make_request()

    page = admin_client.get(f"{REQUESTS}{request.pk}/change/")

    assert page.status_code == 200
    assert "/heatmap/" not in page.content.decode()
    assert admin_client.get(f"/api/pathology/requests/{request.pk}/heatmap/").status_code == 404


def test_requeue_puts_a_failed_request_back_to_pending(admin_client, make_worker, make_request):
    worker, _ = make_worker("gpu-01")
    failed = _failed(worker, make_request())
    assert (failed.status, failed.attempts) == (RequestStatus.FAILED, 1)

    response = _act(admin_client, "requeue", failed)

    assert response.status_code == 302
    assert _messages(response) == [(messages.INFO, "Requeued 1 requests.")]
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.worker, failed.error) == (RequestStatus.PENDING, 0, None, "")
    assert failed.finished_at is None
    assert [row.pk for row in protocol.requests_claimable(limit=10)] == [failed.pk]


def test_requeue_refuses_a_completed_request_and_changes_nothing(admin_client, completed):
    before = PathologyRequest.objects.values().get(pk=completed.pk)

    response = _act(admin_client, "requeue", completed)

    assert response.status_code == 302
    [(level, text)] = _messages(response)
    assert level == messages.WARNING
    assert text == f"{completed.pk}: A completed request is not requeued."
    assert PathologyRequest.objects.values().get(pk=completed.pk) == before


def test_cancel_cancels_open_requests_and_warns_for_finished_ones(admin_client, make_worker, make_request, completed):
    worker, _ = make_worker("gpu-02")
    pending = make_request(slide_file="pending.svs")
    processing = _claimed(worker, make_request(slide_file="processing.svs"))

    response = _act(admin_client, "cancel", pending, processing, completed)

    assert response.status_code == 302
    assert sorted(_messages(response)) == sorted(
        [
            (messages.WARNING, f"{completed.pk}: The request is already completed."),
            (messages.INFO, "Cancelled 2 requests."),
        ]
    )
    for request in (pending, processing):
        request.refresh_from_db()
        assert request.status == RequestStatus.CANCELLED and request.finished_at is not None
        assert request.lease_expires_at is None
    completed.refresh_from_db()
    assert completed.status == RequestStatus.COMPLETED
    # The worker that held the cancelled request learns it at its next report.
    with pytest.raises(Conflict) as conflict:
        _claimed(worker, processing)
    assert conflict.value.code == "request_cancelled"


def test_requests_cannot_be_added_in_the_admin(admin_client):
    assert admin_client.get(f"{REQUESTS}add/").status_code == 403
    assert admin_client.post(f"{REQUESTS}add/", {"slide_file": "x.svs"}).status_code == 403
    assert not PathologyRequest.objects.exists()
    changelist = admin_client.get(REQUESTS).content.decode()
    assert f'href="{REQUESTS}add/"' not in changelist
