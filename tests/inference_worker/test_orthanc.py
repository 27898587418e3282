"""Finding a request's slide through a real Orthanc (tests/support/orthanc.py):
a reference instance made with pydicom whose metadata or tags name the slide
file, and a DICOM WSI series fetched from Orthanc and opened by OpenSlide."""

import numpy as np
import openslide
import pytest
import requests

from inference_worker import dicom_wsi
from inference_worker.orthanc import Orthanc, OrthancError
from inference_worker.slides import SlideNotFound, SlideSource, SlideUnavailable
from inference_worker.synthetic import write_svs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    return write_svs(tmp_path_factory.mktemp("svs") / "case-7.svs", width=1024, height=768, seed=7)


@pytest.fixture(scope="module")
def wsi_series(orthanc_server, slide, tmp_path_factory):
    """The slide as a DICOM WSI series in Orthanc: (series id, instance ids by level)."""
    files = dicom_wsi.write_series(slide, tmp_path_factory.mktemp("dicom"))
    answers = [orthanc_server.upload(path) for path in files]
    return answers[0]["ParentSeries"], [answer["ID"] for answer in answers]


@pytest.fixture
def orthanc(orthanc_server):
    return Orthanc(orthanc_server.url, orthanc_server.user, orthanc_server.password)


@pytest.fixture
def storage(tmp_path, slide):
    root = tmp_path / "slides"
    (root / "2025").mkdir(parents=True)
    (root / "2025" / slide.name).write_bytes(slide.read_bytes())
    return root


def reference(orthanc_server, tmp_path, **kwargs) -> str:
    path = dicom_wsi.write_reference(tmp_path / "reference.dcm", **kwargs)
    return orthanc_server.upload(path)["ID"]


def test_a_file_named_by_the_instance_metadata_is_found_in_storage(orthanc_server, orthanc, storage, tmp_path):
    instance = reference(orthanc_server, tmp_path, slide_file="unrelated.txt")
    orthanc_server.set_metadata(instance, "SlideFile", "case-7.svs")

    located = SlideSource(storage_dir=storage, orthanc=orthanc).locate({"orthanc_instance_id": instance})

    assert located.path == (storage / "2025" / "case-7.svs").resolve()
    assert "metadata SlideFile" in located.how


def test_a_scanner_path_in_a_tag_counts_by_its_file_name(orthanc_server, orthanc, storage, tmp_path):
    instance = reference(orthanc_server, tmp_path, slide_file="D:\\scans\\2025\\case-7.svs", tag="ImageComments")
    series = orthanc.instance(instance)["ParentSeries"]

    for request in ({"orthanc_instance_id": instance}, {"orthanc_series_id": series}):
        located = SlideSource(storage_dir=storage, orthanc=orthanc).locate(request)
        assert located.path == (storage / "2025" / "case-7.svs").resolve()
        assert "ImageComments" in located.how


def test_a_reference_to_a_file_this_worker_lacks_says_what_was_tried(orthanc_server, orthanc, storage, tmp_path):
    instance = reference(orthanc_server, tmp_path, slide_file="/mnt/scanner/absent.svs")

    with pytest.raises(SlideNotFound) as caught:
        SlideSource(storage_dir=storage, orthanc=orthanc).locate({"orthanc_instance_id": instance})

    message = str(caught.value)
    assert "absent.svs" in message and "ContainerIdentifier" in message and "not a DICOM WSI" in message


def test_a_reference_cannot_reach_outside_the_storage_directory(orthanc_server, orthanc, storage, tmp_path):
    (tmp_path / "secret.svs").write_bytes(b"not for requests")
    instance = reference(orthanc_server, tmp_path, slide_file="unrelated.txt")
    orthanc_server.set_metadata(instance, "SlideFile", "..")

    with pytest.raises(SlideNotFound, match="not a plain file name"):
        SlideSource(storage_dir=storage, orthanc=orthanc).locate({"orthanc_instance_id": instance})


def test_a_dicom_wsi_series_is_fetched_and_opened_by_openslide(orthanc, wsi_series, slide, tmp_path):
    series, _ = wsi_series
    source = SlideSource(orthanc=orthanc, download_dir=tmp_path)
    messages = []

    with source.open({"orthanc_series_id": series}, lambda percent, message: messages.append(message)) as path:
        fetched = path.parent
        with openslide.OpenSlide(str(path)) as dicom, openslide.OpenSlide(str(slide)) as original:
            assert dicom.properties["openslide.vendor"] == "dicom"
            assert dicom.level_dimensions == original.level_dimensions
            assert float(dicom.properties["openslide.mpp-x"]) == pytest.approx(0.25)
            region = (300, 200), 0, (128, 128)
            a = np.asarray(dicom.read_region(*region).convert("RGB"), dtype=float)
            b = np.asarray(original.read_region(*region).convert("RGB"), dtype=float)
            assert np.abs(a - b).mean() < 6  # JPEG at quality 90

    assert not fetched.exists(), "the fetched files are removed after the analysis"
    assert messages and "fetching the slide from Orthanc: file 3/3" in messages[-1]


def test_an_instance_of_a_wsi_series_brings_the_whole_series(orthanc, wsi_series, tmp_path):
    series, instances = wsi_series

    located = SlideSource(orthanc=orthanc).locate({"orthanc_instance_id": instances[1]})

    assert located.path is None
    assert located.dicom_instances == tuple(instances)
    assert series in located.how


def test_the_file_name_wins_and_orthanc_is_the_fallback(orthanc, wsi_series, storage):
    series, _ = wsi_series
    source = SlideSource(storage_dir=storage, orthanc=orthanc)

    assert source.locate({"slide_file": "case-7.svs", "orthanc_series_id": series}).path is not None
    fallback = source.locate({"slide_file": "elsewhere.svs", "orthanc_series_id": series})
    assert fallback.path is None and len(fallback.dicom_instances) == 3


def test_a_download_over_the_limit_is_refused(orthanc, wsi_series, tmp_path):
    series, _ = wsi_series
    source = SlideSource(orthanc=orthanc, download_dir=tmp_path, max_download_bytes=10_000)

    with pytest.raises(OrthancError, match="larger than"), source.open({"orthanc_series_id": series}):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["../../system", "4539bd06-7b10c47d", "x" * 44, "/instances"])
def test_values_that_are_not_orthanc_ids_never_reach_orthanc(orthanc, value):
    with pytest.raises(SlideNotFound, match="not an Orthanc identifier"):
        SlideSource(orthanc=orthanc).locate({"orthanc_instance_id": value})


def test_an_unknown_id_is_not_found(orthanc):
    with pytest.raises(SlideNotFound, match="Orthanc has no instance"):
        SlideSource(orthanc=orthanc).locate({"orthanc_instance_id": "00000000-00000000-00000000-00000000-00000000"})


def test_orthanc_refuses_wrong_credentials(orthanc_server, wsi_series):
    series, _ = wsi_series
    intruder = Orthanc(orthanc_server.url, orthanc_server.user, "wrong")
    assert requests.get(f"{orthanc_server.url}/series/{series}", timeout=5).status_code == 401

    with pytest.raises(OrthancError, match="refused the credentials"):
        SlideSource(orthanc=intruder).locate({"orthanc_series_id": series})


def test_an_unreachable_orthanc_is_unavailable_not_missing():
    closed = Orthanc("http://127.0.0.1:9", connect_timeout=1)

    with pytest.raises(SlideUnavailable, match="not reachable"):
        SlideSource(orthanc=closed).locate({"orthanc_series_id": "00000000-00000000-00000000-00000000-00000000"})


def test_without_orthanc_settings_an_orthanc_request_is_not_found(storage):
    with pytest.raises(SlideNotFound, match="ORTHANC_URL is not set"):
        SlideSource(storage_dir=storage).locate({"orthanc_instance_id": "0" * 8 + "-00000000" * 4})


def test_a_request_naming_nothing_is_not_found(storage):
    with pytest.raises(SlideNotFound, match="names no slide"):
        SlideSource(storage_dir=storage).locate({"slide_file": "", "orthanc_instance_id": ""})


def test_the_server_side_analyse_reads_a_dicom_wsi_from_orthanc(orthanc_server, wsi_series, monkeypatch):
    from inference_worker import pipeline

    series, _ = wsi_series
    for name, value in {
        "ORTHANC_URL": orthanc_server.url,
        "ORTHANC_USER": orthanc_server.user,
        "ORTHANC_PASSWORD": orthanc_server.password,
        "FEATURE_EXTRACTOR": "tiny",
        "PATCH_SIZE": "128",
        "ALLOW_UNTRAINED_MODEL": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("SVS_STORAGE_DIR", "MODEL_PATH"):
        monkeypatch.delenv(name, raising=False)
    pipeline._cached_pipeline.cache_clear()
    try:
        out = pipeline.analyse(request={"orthanc_series_id": series}, progress=lambda percent, message: None)
    finally:
        pipeline._cached_pipeline.cache_clear()

    assert out["result"]["patches"] > 0
    assert out["heatmap_png"].startswith(b"\x89PNG")
