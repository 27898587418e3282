"""What a worker may upload: results of the agreed shape, PNG heatmaps of
bounded size."""

import base64
import io

import pytest

from aiplatform.errors import InvalidInput
from pathology.services.results import heatmap_decode, result_validate

from .conftest import RESULT, png


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
