"""What a worker may upload: a result of a known shape, and a PNG heatmap
of bounded size."""

import base64
import binascii
import json
import math
import struct

from django.conf import settings
from django.utils.translation import gettext as _

from aiplatform.errors import InvalidInput

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SIDE = 32_768
MAX_REGIONS = 100


def _number(value, field: str, *, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(_("Must be a number."), field=field)
    if (low is not None and value < low) or (high is not None and value > high):
        raise InvalidInput(_("Must be from %(low)s to %(high)s.") % {"low": low, "high": high}, field=field)
    return value


def result_validate(result) -> dict:
    """`{"label", "probabilities": {label: p}, "top_regions": [{"x", "y",
    "score", "width"?, "height"?}]}` plus any other keys (model name, timings),
    within PATHOLOGY_RESULT_MAX_BYTES. Errors name the field as
    `result.<path>`."""
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except json.JSONDecodeError:
            raise InvalidInput(_("Not valid JSON."), field="result") from None
    if not isinstance(result, dict):
        raise InvalidInput(_("The result must be a JSON object."), field="result")
    if len(json.dumps(result)) > settings.PATHOLOGY_RESULT_MAX_BYTES:
        raise InvalidInput(
            _("The result is larger than %(n)d bytes.") % {"n": settings.PATHOLOGY_RESULT_MAX_BYTES}, field="result"
        )
    label = result.get("label")
    if not isinstance(label, str) or not label.strip() or len(label) > 64:
        raise InvalidInput(_("A label of 1 to 64 characters is required."), field="result.label")
    probabilities = result.get("probabilities")
    if not isinstance(probabilities, dict) or not probabilities:
        raise InvalidInput(_("An object of class probabilities is required."), field="result.probabilities")
    for name, value in probabilities.items():
        _number(value, f"result.probabilities.{name}", low=0, high=1)
    if label not in probabilities:
        raise InvalidInput(_("The label must be one of the classes."), field="result.label")
    if abs(sum(probabilities.values()) - 1) > 0.01:
        raise InvalidInput(_("The probabilities must add up to 1."), field="result.probabilities")
    regions = result.get("top_regions", [])
    if not isinstance(regions, list) or len(regions) > MAX_REGIONS:
        raise InvalidInput(_("A list of at most %(n)d regions.") % {"n": MAX_REGIONS}, field="result.top_regions")
    for i, region in enumerate(regions):
        if not isinstance(region, dict):
            raise InvalidInput(_("A region is an object."), field=f"result.top_regions.{i}")
        for key in ("x", "y"):
            _number(region.get(key), f"result.top_regions.{i}.{key}", low=0)
        for key in ("width", "height"):
            if key in region:
                _number(region[key], f"result.top_regions.{i}.{key}", low=0)
        _number(region.get("score"), f"result.top_regions.{i}.score")
    return result


def heatmap_decode(*, upload=None, encoded: str | None = None) -> bytes | None:
    """The heatmap bytes from a multipart file or a base64 string, checked:
    at most PATHOLOGY_HEATMAP_MAX_BYTES, and a PNG with sane dimensions."""
    limit = settings.PATHOLOGY_HEATMAP_MAX_BYTES
    if upload is not None:
        if upload.size > limit:
            raise InvalidInput(_("The heatmap is larger than %(n)d bytes.") % {"n": limit}, field="heatmap")
        data = upload.read()
    elif encoded:
        if len(encoded) > limit * 4 // 3 + 8:
            raise InvalidInput(_("The heatmap is larger than %(n)d bytes.") % {"n": limit}, field="heatmap_base64")
        if encoded.startswith("data:"):
            encoded = encoded.partition(",")[2]
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(_("Not valid base64."), field="heatmap_base64") from None
    else:
        return None
    field = "heatmap" if upload is not None else "heatmap_base64"
    if len(data) > limit:
        raise InvalidInput(_("The heatmap is larger than %(n)d bytes.") % {"n": limit}, field=field)
    # A PNG starts with its signature and the IHDR chunk (width, height).
    if len(data) < 33 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise InvalidInput(_("The heatmap must be a PNG image."), field=field, code="unsupported_type")
    width, height = struct.unpack(">II", data[16:24])
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise InvalidInput(_("The heatmap's dimensions are out of range."), field=field)
    return data
