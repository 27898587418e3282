"""What a worker may upload: a result of a known shape, a PNG heatmap, the
slide's thumbnail and the top regions' tiles, each of bounded size and
checked to be the image it claims to be."""

import base64
import binascii
import json
import math
import struct

from django.conf import settings
from django.utils.translation import gettext as _

from aiplatform.errors import InvalidInput

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
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


def image_kind(data: bytes) -> str | None:
    """ "png" or "jpeg" by the file's signature, else None."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(JPEG_SIGNATURE):
        return "jpeg"
    return None


CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}
EXTENSIONS = {"png": "png", "jpeg": "jpg"}


def _png_size(data: bytes) -> tuple[int, int] | None:
    # A PNG starts with its signature and the IHDR chunk (width, height).
    if len(data) < 33 or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The width and height of the first frame header (SOFn) of a JPEG,
    walking its segments; None when there is none."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # segments without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if at + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        if marker == 0xDA or length < 2:  # image data before any frame header
            return None
        at += 2 + length
    return None


def image_check(data: bytes, *, field: str, kinds: tuple[str, ...], noun: str) -> str:
    """The kind of an uploaded image ("png", "jpeg") when it is one of
    `kinds`, with sane dimensions; InvalidInput naming `field` otherwise.
    The server has no image library: the signature and the header say."""
    kind = image_kind(data)
    size = _png_size(data) if kind == "png" else _jpeg_size(data) if kind == "jpeg" else None
    if kind not in kinds or size is None:
        raise InvalidInput(
            _("The %(noun)s must be a %(kinds)s image.")
            % {"noun": noun, "kinds": " or ".join(k.upper() for k in kinds)},
            field=field,
            code="unsupported_type",
        )
    width, height = size
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise InvalidInput(_("The %(noun)s's dimensions are out of range.") % {"noun": noun}, field=field)
    return kind


def _upload_bytes(*, upload, encoded: str | None, field: str, limit: int, noun: str) -> bytes | None:
    too_big = _("The %(noun)s is larger than %(n)d bytes.") % {"noun": noun, "n": limit}
    if upload is not None:
        if upload.size > limit:
            raise InvalidInput(too_big, field=field)
        data = upload.read()
    elif encoded:
        if len(encoded) > limit * 4 // 3 + 8:
            raise InvalidInput(too_big, field=field)
        if encoded.startswith("data:"):
            encoded = encoded.partition(",")[2]
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(_("Not valid base64."), field=field) from None
    else:
        return None
    if len(data) > limit:
        raise InvalidInput(too_big, field=field)
    return data


def heatmap_decode(*, upload=None, encoded: str | None = None) -> bytes | None:
    """The heatmap bytes from a multipart file or a base64 string, checked:
    at most PATHOLOGY_HEATMAP_MAX_BYTES, and a PNG (RGBA, to lay over the
    thumbnail, or RGB, already drawn over it) with sane dimensions."""
    field = "heatmap" if upload is not None else "heatmap_base64"
    data = _upload_bytes(
        upload=upload, encoded=encoded, field=field, limit=settings.PATHOLOGY_HEATMAP_MAX_BYTES, noun=_("heatmap")
    )
    if data is not None:
        image_check(data, field=field, kinds=("png",), noun=_("heatmap"))
    return data


def thumbnail_decode(*, upload=None, encoded: str | None = None) -> bytes | None:
    """The slide's thumbnail (the heatmap is laid over it): a JPEG or PNG of
    at most PATHOLOGY_HEATMAP_MAX_BYTES."""
    field = "thumbnail" if upload is not None else "thumbnail_base64"
    data = _upload_bytes(
        upload=upload, encoded=encoded, field=field, limit=settings.PATHOLOGY_HEATMAP_MAX_BYTES, noun=_("thumbnail")
    )
    if data is not None:
        image_check(data, field=field, kinds=("jpeg", "png"), noun=_("thumbnail"))
    return data


def tiles_decode(*, uploads=(), encoded=(), regions: int) -> list[bytes]:
    """The top regions' tiles, in the order of result["top_regions"]: at
    most PATHOLOGY_TILES_MAX and no more than there are regions, each a JPEG
    or PNG of at most PATHOLOGY_TILE_MAX_BYTES."""
    field = "tiles" if uploads else "tiles_base64"
    items = [("upload", item) for item in uploads or ()] + [("encoded", item) for item in encoded or ()]
    limit = min(settings.PATHOLOGY_TILES_MAX, regions)
    if len(items) > limit:
        raise InvalidInput(
            _("At most %(n)d tiles: one per top region, at most PATHOLOGY_TILES_MAX.") % {"n": limit}, field=field
        )
    tiles = []
    for n, (how, item) in enumerate(items):
        data = _upload_bytes(
            upload=item if how == "upload" else None,
            encoded=item if how == "encoded" else None,
            field=f"{field}.{n}",
            limit=settings.PATHOLOGY_TILE_MAX_BYTES,
            noun=_("tile"),
        )
        if data is None:
            raise InvalidInput(_("An empty tile."), field=f"{field}.{n}")
        image_check(data, field=f"{field}.{n}", kinds=("jpeg", "png"), noun=_("tile"))
        tiles.append(data)
    return tiles


# What a worker's error (free English text, often "ExceptionName: details")
# means, for the person who asked: the first pattern that matches.
_ERROR_EXPLANATIONS = (
    ("NoTissue", "no tissue found"),
    ("SlideSourceMissing", "ORTHANC_URL is not set", "SVS_STORAGE_DIR is not set", "Handed back on every attempt"),
    ("SlideNotFound", "not found"),
    ("Orthanc",),
    ("lease ran out",),
    ("refused the result",),
    ("larger than", "SLIDE_DOWNLOAD_MAX_MB"),
)


def error_explain(error: str) -> str:
    """A failed request's error in plain words, in the reader's language;
    the worker's own text (kept in `error`) has the details."""
    explanations = (
        _("No tissue was found on the slide, so there was nothing to analyse."),
        _("No worker that could open this slide's source (Orthanc, or the slide storage) took it."),
        _("The slide could not be found. Check its file name or Orthanc ID."),
        _("Orthanc could not provide the slide."),
        _("The worker stopped responding on every attempt."),
        _("The platform refused the worker's result."),
        _("The slide is larger than a worker may download."),
    )
    lowered = (error or "").lower()
    for patterns, explanation in zip(_ERROR_EXPLANATIONS, explanations, strict=True):
        if any(pattern.lower() in lowered for pattern in patterns):
            return explanation
    return _("The analysis failed.")
