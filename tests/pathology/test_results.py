"""What a worker may upload: results of the agreed shape, PNG heatmaps of
bounded size."""

import base64
import io

import pytest

from aiplatform.errors import InvalidInput
from pathology.services.results import heatmap_decode, image_check, result_validate, thumbnail_decode, tiles_decode

from .conftest import RESULT, jpeg, png


def test_a_good_result_passes_with_its_extra_keys():
    assert result_validate(RESULT) == RESULT
    assert result_validate('{"label": "a", "probabilities": {"a": 1}}') == {"label": "a", "probabilities": {"a": 1}}


@pytest.mark.parametrize(
    ("result", "field"),
    [
        ([], "result"),
        ("{not json", "result"),
        ({"probabilities": {"a": 1}}, "result.label"),
        ({"label": "b", "probabilities": {"a": 1}}, "result.label"),
        ({"label": "a", "probabilities": {}}, "result.probabilities"),
        ({"label": "a", "probabilities": {"a": 1.5}}, "result.probabilities.a"),
        ({"label": "a", "probabilities": {"a": "0.5", "b": 0.5}}, "result.probabilities.a"),
        ({"label": "a", "probabilities": {"a": 0.5, "b": 0.2}}, "result.probabilities"),
        ({"label": "a", "probabilities": {"a": 1}, "top_regions": {}}, "result.top_regions"),
        ({"label": "a", "probabilities": {"a": 1}, "top_regions": [{"x": 1, "score": 1}]}, "result.top_regions.0.y"),
        (
            {"label": "a", "probabilities": {"a": 1}, "top_regions": [{"x": -1, "y": 0, "score": 1}]},
            "result.top_regions.0.x",
        ),
        ({"label": "a", "probabilities": {"a": 1}, "top_regions": [{"x": 1, "y": 0}]}, "result.top_regions.0.score"),
    ],
)
def test_a_bad_result_names_the_field(result, field):
    with pytest.raises(InvalidInput) as caught:
        result_validate(result)
    assert caught.value.field == field


def test_an_oversized_result_is_refused(settings):
    settings.PATHOLOGY_RESULT_MAX_BYTES = 100
    with pytest.raises(InvalidInput, match="larger"):
        result_validate({**RESULT, "notes": "x" * 200})


def test_heatmaps_come_as_a_file_or_base64():
    upload = io.BytesIO(png(3, 2))
    upload.size = len(upload.getvalue())

    assert heatmap_decode(upload=upload) == png(3, 2)
    assert heatmap_decode(encoded=base64.b64encode(png()).decode()) == png()
    assert heatmap_decode(encoded="data:image/png;base64," + base64.b64encode(png()).decode()) == png()
    assert heatmap_decode() is None


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"GIF89a" + b"\x00" * 40, "unsupported_type"),
        (png()[:20], "unsupported_type"),
        (png(0, 5), "invalid"),
    ],
)
def test_only_a_png_is_accepted(data, code):
    with pytest.raises(InvalidInput) as caught:
        heatmap_decode(encoded=base64.b64encode(data).decode())
    assert (caught.value.field, caught.value.code) == ("heatmap_base64", code)


def test_heatmap_size_and_encoding_are_checked(settings):
    settings.PATHOLOGY_HEATMAP_MAX_BYTES = 50
    big = io.BytesIO(png(40, 40))
    big.size = len(big.getvalue())
    with pytest.raises(InvalidInput) as caught:
        heatmap_decode(upload=big)
    assert caught.value.field == "heatmap"
    with pytest.raises(InvalidInput) as caught:
        heatmap_decode(encoded="@@not base64@@")
    assert caught.value.field == "heatmap_base64"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_the_sizes_of_pngs_and_jpegs_are_read_from_their_headers():
    assert image_check(jpeg(300, 200), field="f", kinds=("jpeg",), noun="tile") == "jpeg"
    assert image_check(png(3, 2), field="f", kinds=("jpeg", "png"), noun="tile") == "png"
    with pytest.raises(InvalidInput) as caught:
        image_check(jpeg()[:4] + b"\x00" * 40, field="f", kinds=("jpeg",), noun="tile")
    assert caught.value.code == "unsupported_type"


def test_a_thumbnail_is_a_jpeg_or_png():
    assert thumbnail_decode(encoded=_b64(jpeg())) == jpeg()
    assert thumbnail_decode(encoded=_b64(png())) == png()
    assert thumbnail_decode() is None
    with pytest.raises(InvalidInput) as caught:
        thumbnail_decode(encoded=_b64(b"GIF89a" + bytes(40)))
    assert (caught.value.field, caught.value.code) == ("thumbnail_base64", "unsupported_type")


def test_a_heatmap_is_a_png_not_a_jpeg():
    with pytest.raises(InvalidInput) as caught:
        heatmap_decode(encoded=_b64(jpeg()))
    assert caught.value.field == "heatmap_base64"


def test_tiles_are_checked_one_by_one_and_counted(settings):
    assert tiles_decode(encoded=[_b64(jpeg()), _b64(png())], regions=2) == [jpeg(), png()]
    with pytest.raises(InvalidInput) as caught:
        tiles_decode(encoded=[_b64(jpeg()), _b64(b"not an image at all, not at all")], regions=2)
    assert (caught.value.field, caught.value.code) == ("tiles_base64.1", "unsupported_type")
    with pytest.raises(InvalidInput) as caught:
        tiles_decode(encoded=[_b64(jpeg())] * 3, regions=2)
    assert caught.value.field == "tiles_base64"
    settings.PATHOLOGY_TILES_MAX = 1
    with pytest.raises(InvalidInput, match="At most 1 tiles"):
        tiles_decode(encoded=[_b64(jpeg())] * 2, regions=5)
    settings.PATHOLOGY_TILE_MAX_BYTES = 100
    big = io.BytesIO(jpeg(64, 64))
    big.size = len(big.getvalue())
    with pytest.raises(InvalidInput, match="larger than 100 bytes") as caught:
        tiles_decode(uploads=[big], regions=5)
    assert caught.value.field == "tiles.0"
