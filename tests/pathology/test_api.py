"""The /api/pathology/ endpoints: the seed's paths and shapes, who may call
which, and the server-side pipeline switch."""

import base64
import io
import uuid

import pytest
from django.utils.translation import gettext
from rest_framework.test import APIClient

from pathology.choices import RequestStatus
from pathology.models import PathologyRequest

from .conftest import RESULT, jpeg, png


def post(client, path, body=None, **kwargs):
    return client.post(path, body if body is not None else {}, format="json", **kwargs)


@pytest.fixture
def worker_client(make_worker, key_client):
    def make(name="gpu-01"):
        _worker, secret = make_worker(name)
        return key_client(secret, header="x-api-key")

    return make


def test_analyze_queues_a_request_for_the_workers(owner_client, owner):
    response = post(owner_client, "/api/pathology/analyze/", {"orthanc_instance_id": "abc-123", "patient_id": "P-7"})

    assert response.status_code == 202
    body = response.json()
    assert body["success"] is True and body["status"] == "pending"
    stored = PathologyRequest.objects.get(pk=body["request_id"])
    assert (stored.orthanc_instance_id, stored.patient_id, stored.requested_by) == ("abc-123", "P-7", owner)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "slide_file"),
        ({"slide_file": "../../etc/passwd"}, "slide_file"),
        ({"slide_file": "a/b.svs"}, "slide_file"),
        ({"slide_file": "x.svs", "priority": 1000}, "priority"),
        ({"orthanc_instance_id": "x" * 65}, "orthanc_instance_id"),
    ],
)
def test_analyze_bad_input_names_the_field(owner_client, body, field):
    response = post(owner_client, "/api/pathology/analyze/", body)

    assert response.status_code == 400 and field in response.json()["error"]["fields"]


def test_the_seed_worker_loop_over_http(owner_client, worker_client):
    request_id = post(owner_client, "/api/pathology/analyze/", {"slide_file": "case-1.svs"}).json()["request_id"]
    worker = worker_client()

    pending = worker.get("/api/pathology/pending-requests/").json()
    claimed = post(worker, f"/api/pathology/update-status/{request_id}/", {"status": "processing", "progress": 10})
    progress = post(worker, f"/api/pathology/update-status/{request_id}/", {"status": "processing", "progress": 70})
    heatmap = io.BytesIO(png())
    heatmap.name = "heatmap.png"
    completed = worker.post(
        f"/api/pathology/complete-request/{request_id}/",
        {"result": '{"label": "tumor", "probabilities": {"tumor": 0.9, "normal": 0.1}}', "heatmap": heatmap},
        format="multipart",
    )

    assert pending == {"success": True, "count": 1, "requests": [pending["requests"][0]]}
    assert pending["requests"][0]["request_id"] == request_id and pending["requests"][0]["slide_file"] == "case-1.svs"
    assert claimed.status_code == 200 and claimed.json()["request"]["worker"] == "gpu-01"
    assert progress.json()["request"]["progress"] == 70
    assert completed.status_code == 200 and completed.json()["stored"] is True
    mine = owner_client.get(f"/api/pathology/requests/{request_id}/").json()
    assert mine["status"] == "completed" and mine["result"]["label"] == "tumor"
    image = owner_client.get(mine["heatmap_url"])
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content) == png()
    assert worker.get("/api/pathology/pending-requests/").json() == {"success": True, "count": 0, "requests": []}


def test_a_second_worker_gets_409_with_the_holder(make_request, worker_client):
    request = make_request()
    first, second = worker_client("gpu-01"), worker_client("gpu-02")
    post(first, f"/api/pathology/update-status/{request.pk}/", {"status": "processing"})

    response = post(second, f"/api/pathology/update-status/{request.pk}/", {"status": "processing"})
    completion = post(second, f"/api/pathology/complete-request/{request.pk}/", {"result": RESULT})

    assert response.status_code == 409
    assert response.json()["error"] | {"holder": "gpu-01", "current_status": "processing"} == response.json()["error"]
    assert completion.status_code == 409


def test_complete_with_base64_and_again(make_request, worker_client):
    request = make_request()
    worker = worker_client()
    post(worker, f"/api/pathology/update-status/{request.pk}/", {"status": "processing"})
    body = {"result": RESULT, "heatmap_base64": base64.b64encode(png()).decode()}

    first = post(worker, f"/api/pathology/complete-request/{request.pk}/", body)
    again = post(worker, f"/api/pathology/complete-request/{request.pk}/", body)

    assert first.status_code == again.status_code == 200
    assert (first.json()["stored"], again.json()["stored"]) == (True, False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"result": {"label": "x", "probabilities": {"y": 1}}}, "result.label"),
        ({"result": RESULT, "heatmap_base64": base64.b64encode(b"GIF89a" + bytes(40)).decode()}, "heatmap_base64"),
        ({}, "result"),
    ],
)
def test_bad_uploads_are_400_naming_the_field(make_request, worker_client, body, field):
    request = make_request()
    worker = worker_client()
    post(worker, f"/api/pathology/update-status/{request.pk}/", {"status": "processing"})

    response = post(worker, f"/api/pathology/complete-request/{request.pk}/", body)

    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert PathologyRequest.objects.get(pk=request.pk).status == RequestStatus.PROCESSING  # still held, retry possible


def test_update_status_bad_input_and_unknown_request(worker_client, make_request):
    worker = worker_client()
    request = make_request()

    bad = post(worker, f"/api/pathology/update-status/{request.pk}/", {"status": "completed", "progress": 120})
    missing = post(worker, f"/api/pathology/update-status/{uuid.uuid4()}/", {"status": "processing"})

    assert bad.status_code == 400 and set(bad.json()["error"]["fields"]) == {"status", "progress"}
    assert missing.status_code == 404


def test_pending_requests_bounds(worker_client, settings):
    worker = worker_client()

    assert worker.get("/api/pathology/pending-requests/?limit=0").status_code == 400
    assert worker.get("/api/pathology/pending-requests/?wait=999").status_code == 400
    assert worker.get("/api/pathology/pending-requests/?wait=x").status_code == 400


def test_worker_endpoints_take_only_worker_keys(owner_client, staff_client, make_api_key, key_client, make_request):
    request = make_request()
    _key, service_secret = make_api_key(["service"])
    paths = [
        ("get", "/api/pathology/pending-requests/"),
        ("post", f"/api/pathology/update-status/{request.pk}/"),
        ("post", f"/api/pathology/complete-request/{request.pk}/"),
    ]
    for method, path in paths:
        for client in (owner_client, staff_client, key_client(service_secret)):
            assert getattr(client, method)(path, {"status": "processing"}, format="json").status_code == 403


def test_worker_keys_reach_only_the_worker_endpoints(worker_client, make_request):
    worker = worker_client()
    request = make_request()

    assert post(worker, "/api/pathology/analyze/", {"slide_file": "a.svs"}).status_code == 403
    assert worker.get("/api/pathology/requests/").status_code == 403
    assert worker.get(f"/api/pathology/requests/{request.pk}/").status_code == 403
    assert worker.get("/api/conversation/logs").status_code == 403


def test_users_see_their_own_requests_and_staff_all(owner_client, staff_client, make_request, other_user):
    mine = make_request()
    theirs = make_request(requested_by=other_user)

    listed = owner_client.get("/api/pathology/requests/").json()
    assert [row["request_id"] for row in listed["results"]] == [str(mine.pk)]
    assert owner_client.get(f"/api/pathology/requests/{theirs.pk}/").status_code == 404
    assert staff_client.get("/api/pathology/requests/").json()["count"] == 2
    filtered = staff_client.get("/api/pathology/requests/?requested_by=other&status=pending").json()
    assert [row["request_id"] for row in filtered["results"]] == [str(theirs.pk)]
    assert staff_client.get("/api/pathology/requests/?state=x").status_code == 400


def test_cancel_by_the_requester_and_requeue_by_staff(owner_client, staff_client, make_request):
    request = make_request()

    cancelled = owner_client.post(f"/api/pathology/requests/{request.pk}/cancel/")
    again = owner_client.post(f"/api/pathology/requests/{request.pk}/cancel/")
    refused = owner_client.post(f"/api/pathology/requests/{request.pk}/requeue/")
    requeued = staff_client.post(f"/api/pathology/requests/{request.pk}/requeue/")

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409
    assert refused.status_code == 403
    assert requeued.status_code == 200 and requeued.json()["status"] == "pending"


def test_workers_are_listed_for_staff(staff_client, owner_client, worker_client, make_request):
    request = make_request()
    worker = worker_client("gpu-07")
    post(worker, f"/api/pathology/update-status/{request.pk}/", {"status": "processing"}, HTTP_X_WORKER_HOST="lab-2")

    rows = staff_client.get("/api/pathology/workers/").json()["results"]

    assert [(row["name"], row["host"], row["current_request"]) for row in rows] == [
        ("gpu-07", "lab-2", str(request.pk))
    ]
    assert rows[0]["last_seen"] is not None
    assert owner_client.get("/api/pathology/workers/").status_code == 403


def test_without_local_inference_and_no_pipeline_analyze_is_503(owner_client, settings):
    settings.USE_LOCAL_INFERENCE = False
    settings.PATHOLOGY_PIPELINE = "no_such_package.pipeline.analyse"
    from pathology.services import local

    local.pipeline_load.cache_clear()
    response = post(owner_client, "/api/pathology/analyze/", {"slide_file": "a.svs"})

    assert response.status_code == 503 and response.json()["error"]["code"] == "pipeline_unavailable"
    assert not PathologyRequest.objects.exists()


def test_without_local_inference_the_server_runs_the_pipeline(
    owner_client, settings, django_capture_on_commit_callbacks
):
    settings.USE_LOCAL_INFERENCE = False
    # A stand-in for the worker package's pipeline (it needs torch, which the server need not have).
    settings.PATHOLOGY_PIPELINE = "tests.support.pathology_pipeline.analyse"
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}}
    from pathology.services import local

    local.pipeline_load.cache_clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(owner_client, "/api/pathology/analyze/", {"slide_file": "case-9.svs"})

    done = PathologyRequest.objects.get(pk=response.json()["request_id"])
    assert done.status == RequestStatus.COMPLETED, done.error
    assert done.worker.name == "server" and done.result["slide"] == "case-9.svs"
    assert done.heatmap.read().startswith(b"\x89PNG")
    local.pipeline_load.cache_clear()


def test_a_failing_server_pipeline_fails_the_request(owner_client, settings, django_capture_on_commit_callbacks):
    settings.USE_LOCAL_INFERENCE = False
    settings.PATHOLOGY_PIPELINE = "tests.support.pathology_pipeline.analyse"
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}}
    from pathology.services import local

    local.pipeline_load.cache_clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(owner_client, "/api/pathology/analyze/", {"slide_file": "missing.svs"})

    failed = PathologyRequest.objects.get(pk=response.json()["request_id"])
    assert failed.status == RequestStatus.FAILED and "missing.svs" in failed.error
    local.pipeline_load.cache_clear()


def test_every_path_works_without_its_trailing_slash(owner_client, staff_client, worker_client):
    """No 301 to the slashed form: a client that follows one turns its POST into a GET."""
    worker = worker_client()
    created = post(owner_client, "/api/pathology/analyze", {"slide_file": "case-1.svs"})
    assert created.status_code == 202, created.content
    request_id = created.json()["request_id"]

    assert worker.get("/api/pathology/pending-requests").json()["count"] == 1
    assert post(worker, f"/api/pathology/update-status/{request_id}", {"status": "processing"}).status_code == 200
    completed = post(worker, f"/api/pathology/complete-request/{request_id}", {"result": RESULT})
    assert completed.status_code == 200, completed.content
    assert owner_client.get("/api/pathology/requests").json()["results"][0]["request_id"] == request_id
    assert owner_client.get(f"/api/pathology/requests/{request_id}").json()["status"] == "completed"
    assert owner_client.get(f"/api/pathology/requests/{request_id}/heatmap").status_code == 404
    assert post(owner_client, f"/api/pathology/requests/{request_id}/cancel").status_code == 409
    assert post(staff_client, f"/api/pathology/requests/{request_id}/requeue").status_code == 409
    assert staff_client.get("/api/pathology/workers").status_code == 200
    # The slashed forms, which the seed's clients call, are what the API names.
    assert completed.json()["request"]["heatmap_url"] is None
    assert owner_client.get("/api/pathology/requests/").status_code == 200


def test_pending_requests_by_sources(worker_client, make_request):
    worker = worker_client()
    by_series = make_request(slide_file="", orthanc_series_id="s-1")

    assert worker.get("/api/pathology/pending-requests/?sources=file,upload").json()["count"] == 0
    listed = worker.get("/api/pathology/pending-requests/?sources=orthanc").json()["requests"]
    assert [row["request_id"] for row in listed] == [str(by_series.pk)]
    bad = worker.get("/api/pathology/pending-requests/?sources=file,ftp")
    assert bad.status_code == 400 and "sources" in bad.json()["error"]["fields"]


def _upload(name, data, content_type):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def test_a_multipart_completion_with_thumbnail_and_tiles_is_served_to_its_owner_and_staff(
    make_request, worker_client, owner_client, staff_client, other_user
):
    import json

    request = make_request()
    worker = worker_client()
    post(worker, f"/api/pathology/update-status/{request.pk}/", {"status": "processing"})
    result = {**RESULT, "top_regions": [{"x": 0, "y": 0, "score": 0.6}, {"x": 256, "y": 0, "score": 0.4}]}
    tiles = [jpeg(32, 32, (250, 0, 0)), jpeg(32, 32, (0, 0, 250))]

    response = worker.post(
        f"/api/pathology/complete-request/{request.pk}/",
        {
            "result": json.dumps(result),
            "heatmap": _upload("../../etc/evil.png", png(16, 12), "image/png"),
            "thumbnail": _upload("x.jpg", jpeg(16, 12), "image/jpeg"),
            "tiles": [_upload("a.jpg", tiles[0], "image/jpeg"), _upload("b.jpg", tiles[1], "image/jpeg")],
        },
        format="multipart",
    )

    assert response.status_code == 200, response.content
    shown = owner_client.get(f"/api/pathology/requests/{request.pk}/").json()
    assert shown["message"] == gettext("Completed.")
    assert shown["tile_urls"] == [f"/api/pathology/requests/{request.pk}/tiles/{n}/" for n in (0, 1)]
    for client in (owner_client, staff_client):
        thumbnail = client.get(shown["thumbnail_url"])
        assert thumbnail["Content-Type"] == "image/jpeg" and b"".join(thumbnail.streaming_content) == jpeg(16, 12)
        heatmap = client.get(shown["heatmap_url"])
        assert heatmap["Content-Type"] == "image/png" and b"".join(heatmap.streaming_content) == png(16, 12)
        for url, tile in zip(shown["tile_urls"], tiles, strict=True):
            served = client.get(url)
            assert served["Content-Type"] == "image/jpeg" and b"".join(served.streaming_content) == tile
    assert owner_client.get(f"/api/pathology/requests/{request.pk}/tiles/2/").status_code == 404
    # Names of our own, never the uploader's.
    stored = PathologyRequest.objects.get(pk=request.pk)
    assert "evil" not in stored.heatmap.name and stored.heatmap.name.startswith("pathology/heatmaps/")
    assert all(name.startswith(f"pathology/tiles/{request.pk}-") for name in stored.tiles)
    stranger = APIClient()
    stranger.force_authenticate(other_user)
    for url in (shown["thumbnail_url"], shown["heatmap_url"], shown["tile_urls"][0]):
        assert stranger.get(url).status_code == 404


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"thumbnail_base64": base64.b64encode(b"GIF89a" + bytes(40)).decode()}, "thumbnail_base64"),
        ({"tiles_base64": [base64.b64encode(png()).decode()] * 2}, "tiles_base64"),  # RESULT has one region
        ({"tiles_base64": [base64.b64encode(b"<svg/>" * 8).decode()]}, "tiles_base64.0"),
    ],
)
def test_bad_thumbnails_and_tiles_are_400_naming_the_field(make_request, worker_client, extra, field):
    request = make_request()
    worker = worker_client()
    post(worker, f"/api/pathology/update-status/{request.pk}/", {"status": "processing"})

    response = post(worker, f"/api/pathology/complete-request/{request.pk}/", {"result": RESULT, **extra})

    assert response.status_code == 400 and field in response.json()["error"]["fields"], response.content
    assert PathologyRequest.objects.get(pk=request.pk).status == RequestStatus.PROCESSING
