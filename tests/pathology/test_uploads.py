"""Slides uploaded with an analysis request: checked (size, type, name),
stored in the slide storage, and downloaded by the worker that holds the
request, and by no one else."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from pathology.models import PathologyRequest
from pathology.services.slides import slide_name_clean, slide_storage

TIFF = b"II*\x00" + bytes(200)
DICOM = bytes(128) + b"DICM" + bytes(100)


@pytest.fixture(autouse=True)
def slide_dir(settings, tmp_path):
    settings.PATHOLOGY_SLIDE_STORAGE_DIR = str(tmp_path / "slides")
    return tmp_path / "slides"


@pytest.fixture
def worker_client(make_worker, key_client):
    def make(name="gpu-01"):
        _worker, secret = make_worker(name)
        return key_client(secret, header="x-api-key")

    return make


def _analyze(client, name, data, **fields):
    return client.post(
        "/api/pathology/analyze/", {"slide": SimpleUploadedFile(name, data), **fields}, format="multipart"
    )


def test_an_uploaded_slide_is_stored_under_a_clean_name_of_our_own(owner_client, slide_dir):
    response = _analyze(owner_client, "../../etc/케이스 01.svs", TIFF, patient_id="P-1")

    assert response.status_code == 202, response.content
    created = PathologyRequest.objects.get(pk=response.json()["request_id"])
    assert created.slide_uploaded and created.patient_id == "P-1"
    assert created.slide_file.startswith("upload-") and created.slide_file.endswith("-케이스_01.svs")
    assert (slide_dir / created.slide_file).read_bytes() == TIFF
    assert response.json()["request"]["slide_uploaded"] is True
    assert _analyze(owner_client, "scan.dcm", DICOM).status_code == 202


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(40), "unsupported_type"),
        ("slide.svs", b"\x89PNG\r\n\x1a\n" + bytes(40), "unsupported_type"),
        ("slide.dcm", TIFF, "unsupported_type"),
        ("no-extension", TIFF, "unsupported_type"),
        ("empty.svs", b"", "invalid"),
    ],
)
def test_a_file_that_is_not_a_slide_is_refused_naming_the_field(owner_client, slide_dir, name, data, code):
    response = _analyze(owner_client, name, data)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert "slide" in error["fields"] and error["code"] == code
    assert not PathologyRequest.objects.exists()
    assert not slide_dir.exists() or not any(slide_dir.iterdir())


def test_an_oversized_slide_is_refused(owner_client, settings, slide_dir):
    settings.PATHOLOGY_UPLOAD_MAX_MB = 1
    response = _analyze(owner_client, "big.svs", TIFF + bytes(3 * 2**20))

    assert response.status_code == 400 and response.json()["error"]["code"] == "too_large"
    assert "slide" in response.json()["error"]["fields"]
    assert not PathologyRequest.objects.exists()


def test_a_slide_is_uploaded_or_named_not_both(owner_client):
    response = _analyze(owner_client, "a.svs", TIFF, slide_file="b.svs")
    assert response.status_code == 400 and "slide_file" in response.json()["error"]["fields"]


def test_names_are_cleaned():
    assert slide_name_clean("C:\\scans\\case 1.SVS") == "case_1.svs"
    assert slide_name_clean("..hidden.tif") == "hidden.tif"
    assert slide_name_clean("a;rm -rf.svs") == "a_rm_-rf.svs"
    assert len(slide_name_clean("x" * 500 + ".ndpi")) == 120 and slide_name_clean("x" * 500 + ".ndpi").endswith(".ndpi")


def test_only_the_holder_downloads_an_uploaded_slide(owner_client, worker_client, make_request):
    request_id = _analyze(owner_client, "case.svs", TIFF).json()["request_id"]
    holder, other = worker_client("gpu-01"), worker_client("gpu-02")
    url = f"/api/pathology/slide/{request_id}/"

    assert holder.get(url).status_code == 409  # not claimed yet
    holder.post(f"/api/pathology/update-status/{request_id}/", {"status": "processing"}, format="json")
    served = holder.get(url)
    assert served.status_code == 200 and b"".join(served.streaming_content) == TIFF
    assert served["Content-Length"] == str(len(TIFF))
    assert other.get(url).status_code == 409
    assert owner_client.get(url).status_code == 403
    assert holder.get(url.rstrip("/")).status_code == 200

    named = make_request(slide_file="named.svs")
    holder.post(f"/api/pathology/update-status/{named.pk}/", {"status": "processing"}, format="json")
    assert holder.get(f"/api/pathology/slide/{named.pk}/").status_code == 404


def test_an_uploaded_slide_is_offered_to_workers_that_download(owner_client, worker_client):
    request_id = _analyze(owner_client, "case.svs", TIFF).json()["request_id"]
    worker = worker_client()

    listed = worker.get("/api/pathology/pending-requests/?sources=upload").json()["requests"]
    assert [(row["request_id"], row["slide_uploaded"]) for row in listed] == [(request_id, True)]
    assert slide_storage().exists(listed[0]["slide_file"])
