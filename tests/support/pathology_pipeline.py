"""A stand-in for the inference worker's pipeline, used where the real one
cannot run (it needs torch and a slide): the same call and return shape,
a fixed result and a small PNG heatmap. `missing.svs` is a slide that
cannot be found."""

import struct
import zlib


def png(width: int = 8, height: int = 6) -> bytes:
    """A real (tiny, orange) PNG image."""
    raw = b"".join(b"\x00" + b"\xff\x80\x00" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def analyse(*, request: dict, progress) -> dict:
    if request["slide_file"] == "missing.svs":
        raise FileNotFoundError(f"slide {request['slide_file']} not found")
    progress(50, "patches")
    return {
        "result": {"label": "normal", "probabilities": {"normal": 0.7, "tumor": 0.3}, "slide": request["slide_file"]},
        "heatmap_png": png(),
    }


def jpeg(width: int = 16, height: int = 12, colour=(200, 80, 160)) -> bytes:
    """A real JPEG image (Pillow, which the test environment has; the server needs none)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="JPEG")
    return out.getvalue()
