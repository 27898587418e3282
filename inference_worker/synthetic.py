"""Synthetic whole-slide images for tests and demos.

A slide is near-white glass with pink/purple tissue blobs (wobbly ellipses
whose number, size and place depend on the seed). Tissue has a texture of
"nuclei" whose size, density and colour depend on the pattern, so that the
two patterns are two tissue classes that differ at patch scale. Optional
lesions (tumour foci) are smaller wobbly blobs inside the tissue, drawn in
pattern "b" on pattern-"a" tissue: a slide class that differs from plain "a"
tissue in a minority of its patches, as tumour slides do.

Blobs, shading and nuclei are functions of the level-0 position, so the
levels agree with each other (a reduced level samples the nuclei rather than
averaging them), the same arguments write the same slide, and the ground
truth of what was drawn is available at any downsample (`tissue_mask`,
`lesion_mask`). Pixels are computed tile by tile while tifffile writes them,
deflate-compressed (the codec libtiff, and so OpenSlide, always has; JPEG
would need imagecodecs).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import tifffile

TISSUES = ("blobs", "blank")
PATTERNS = ("a", "b")
LESION_PATTERN = "b"

GLASS = (242, 240, 238)


@dataclass(frozen=True)
class _Style:
    stroma: tuple[int, int, int]
    nucleus: tuple[int, int, int]
    cell: int  # side of a nucleus, in level-0 pixels
    density: float  # fraction of cells that hold a nucleus


_STYLES = {
    "a": _Style(stroma=(234, 172, 206), nucleus=(132, 76, 164), cell=8, density=0.10),
    "b": _Style(stroma=(214, 150, 204), nucleus=(86, 44, 130), cell=12, density=0.35),
}

_MASK64 = (1 << 64) - 1
# The mask of a level-0 tile is evaluated on every 4th pixel and repeated:
# boundaries 4 px coarse are invisible, and 16 times fewer arctan2 calls.
_MASK_STEP = 4
# Lesion radii, as a fraction of the slide's shorter side (blobs' are 0.06-0.2).
_LESION_RADIUS = (0.06, 0.1)


def write_svs(
    path: str | Path,
    *,
    width: int,
    height: int,
    tile: int = 256,
    levels: Sequence[int] = (1, 4, 16),
    tissue: str = "blobs",
    pattern: str = "a",
    seed: int = 0,
    lesions: int = 0,
    mpp: float = 0.25,
    app_mag: int = 40,
) -> Path:
    """Write an Aperio SVS: one tiled RGB page per level, top-level pages,
    the first one described the way Aperio's library does, so that OpenSlide
    opens it as vendor "aperio" with the given MPP and objective power.
    `lesions` pattern-"b" foci are drawn in pattern-"a" tissue."""
    header = (
        f"Aperio Image Library v12.0.15 \n{width}x{height} [0,0 {width}x{height}] ({tile}x{tile}) Deflate/RGB"
        f"|AppMag = {app_mag}|MPP = {mpp}"
    )
    descriptions = [header] + [
        f"Aperio Image Library v12.0.15 \n{width}x{height} -> {w}x{h} - ({tile}x{tile}) Deflate/RGB"
        for w, h in _level_dims(width, height, levels)[1:]
    ]
    return _write(
        Path(path),
        width=width,
        height=height,
        tile=tile,
        levels=levels,
        tissue=tissue,
        pattern=pattern,
        seed=seed,
        lesions=lesions,
        descriptions=descriptions,
        mpp=None,
    )


def write_tiled_tiff(
    path: str | Path,
    *,
    width: int,
    height: int,
    tile: int = 256,
    levels: Sequence[int] = (1, 4, 16),
    tissue: str = "blobs",
    pattern: str = "a",
    seed: int = 0,
    lesions: int = 0,
    mpp: float = 0.25,
) -> Path:
    """Write a generic tiled pyramidal TIFF (no description; reduced levels
    marked as such), which OpenSlide opens as vendor "generic-tiff". The MPP
    is stored as the resolution in pixels per centimetre. `lesions` as for
    write_svs."""
    return _write(
        Path(path),
        width=width,
        height=height,
        tile=tile,
        levels=levels,
        tissue=tissue,
        pattern=pattern,
        seed=seed,
        lesions=lesions,
        descriptions=[None] * len(levels),
        mpp=mpp,
    )


def tissue_mask(width: int, height: int, *, downsample: float, tissue: str = "blobs", seed: int = 0) -> np.ndarray:
    """Where tissue was drawn, as a boolean (height // downsample,
    width // downsample) array: the ground truth for a level's segmentation."""
    _check(tissue=tissue, pattern="a")
    w, h = max(1, int(width // downsample)), max(1, int(height // downsample))
    xs = (np.arange(w) + 0.5) * (width / w)
    ys = (np.arange(h) + 0.5) * (height / h)
    return _inside(xs, ys, _blobs(width, height, tissue, seed))


def lesion_mask(
    width: int, height: int, *, downsample: float, lesions: int, tissue: str = "blobs", seed: int = 0
) -> np.ndarray:
    """Where lesions were drawn (always within tissue), as a boolean array
    shaped like tissue_mask's: the ground truth for where a tumour is."""
    _check(tissue=tissue, pattern="a", lesions=lesions)
    w, h = max(1, int(width // downsample)), max(1, int(height // downsample))
    xs = (np.arange(w) + 0.5) * (width / w)
    ys = (np.arange(h) + 0.5) * (height / h)
    blobs = _blobs(width, height, tissue, seed)
    return _inside(xs, ys, blobs) & _inside(xs, ys, _lesions(width, height, blobs, seed, lesions))


def _check(*, tissue: str, pattern: str, lesions: int = 0) -> None:
    if tissue not in TISSUES:
        raise ValueError(f"tissue must be one of {TISSUES}, not {tissue!r}")
    if pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {PATTERNS}, not {pattern!r}")
    if lesions < 0:
        raise ValueError(f"lesions must be zero or more, not {lesions}")
    if lesions and pattern == LESION_PATTERN:
        raise ValueError(f"lesions are drawn in pattern {LESION_PATTERN!r}: on such tissue they would not show")


def _level_dims(width: int, height: int, levels: Sequence[int]) -> list[tuple[int, int]]:
    return [(max(1, width // d), max(1, height // d)) for d in levels]


def _write(
    path: Path,
    *,
    width: int,
    height: int,
    tile: int,
    levels: Sequence[int],
    tissue: str,
    pattern: str,
    seed: int,
    lesions: int,
    descriptions: list[str | None],
    mpp: float | None,
) -> Path:
    _check(tissue=tissue, pattern=pattern, lesions=lesions)
    if tile % 16:
        raise ValueError("TIFF tiles are a multiple of 16 pixels")
    if not levels or levels[0] != 1 or any(b <= a for a, b in pairwise(levels)):
        raise ValueError("levels are increasing downsamples starting at 1")
    blobs = _blobs(width, height, tissue, seed)
    foci = _lesions(width, height, blobs, seed, lesions)
    style = _STYLES[pattern]
    # Deflate of noisy RGB hardly shrinks it: past 4 GB only BigTIFF holds it.
    bigtiff = width * height * 3 * 1.4 > 2**32 - 2**28
    with tifffile.TiffWriter(path, bigtiff=bigtiff) as tif:
        for index, ((w, h), downsample) in enumerate(zip(_level_dims(width, height, levels), levels, strict=True)):
            extra = {}
            if mpp is not None:
                extra = {"resolution": (1e4 / (mpp * downsample),) * 2, "resolutionunit": "CENTIMETER"}
            tif.write(
                _tiles(w, h, tile, (width / w, height / h), blobs, foci, style, seed, index),
                shape=(h, w, 3),
                dtype=np.uint8,
                tile=(tile, tile),
                photometric="rgb",
                compression="zlib",
                compressionargs={"level": 1},
                description=descriptions[index],
                metadata=None,
                subfiletype=1 if index else 0,
                software=False,
                maxworkers=os.cpu_count(),
                **extra,
            )
    return path


def _blobs(width: int, height: int, tissue: str, seed: int) -> np.ndarray:
    """Rows of (cx, cy, rx, ry, cos, sin, wobble, lobes, phase) in level-0 pixels."""
    if tissue == "blank":
        return np.zeros((0, 9))
    rng = np.random.default_rng(seed)
    side = min(width, height)
    rows = []
    for _ in range(int(rng.integers(2, 6))):
        angle = rng.uniform(0, math.pi)
        rows.append(
            (
                rng.uniform(0.2, 0.8) * width,
                rng.uniform(0.2, 0.8) * height,
                rng.uniform(0.08, 0.2) * side,
                rng.uniform(0.06, 0.15) * side,
                math.cos(angle),
                math.sin(angle),
                rng.uniform(0.05, 0.15),
                float(rng.integers(3, 8)),
                rng.uniform(0, 2 * math.pi),
            )
        )
    return np.array(rows)


def _lesions(width: int, height: int, blobs: np.ndarray, seed: int, count: int) -> np.ndarray:
    """`count` rows like _blobs', each centred well inside a blob (picked in
    proportion to its area); a lesion near a blob's edge may reach past it."""
    if not count or not len(blobs):
        return np.zeros((0, 9))
    # A generator of their own, so that the blobs stay those of the seed.
    rng = np.random.default_rng([seed, 1])
    side = min(width, height)
    areas = blobs[:, 2] * blobs[:, 3]
    rows = []
    for _ in range(count):
        cx, cy, rx, ry, cos, sin = blobs[rng.choice(len(blobs), p=areas / areas.sum()), :6]
        # Within 0.6 of the blob's radii: inside it whatever its wobble (at most 0.15).
        reach, theta = 0.6 * math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi)
        u, v = rx * reach * math.cos(theta), ry * reach * math.sin(theta)
        radius = rng.uniform(*_LESION_RADIUS) * side
        angle = rng.uniform(0, math.pi)
        rows.append(
            (
                cx + u * cos - v * sin,
                cy + u * sin + v * cos,
                radius,
                radius * rng.uniform(0.7, 1.0),
                math.cos(angle),
                math.sin(angle),
                rng.uniform(0.05, 0.2),
                float(rng.integers(3, 8)),
                rng.uniform(0, 2 * math.pi),
            )
        )
    return np.array(rows)


def _inside(xs: np.ndarray, ys: np.ndarray, blobs: np.ndarray) -> np.ndarray:
    """Which of the level-0 points (ys x xs grid) lie in a blob."""
    out = np.zeros((len(ys), len(xs)), dtype=bool)
    for cx, cy, rx, ry, cos, sin, wobble, lobes, phase in blobs:
        reach = max(rx, ry) * (1 + wobble)
        if xs[-1] < cx - reach or xs[0] > cx + reach or ys[-1] < cy - reach or ys[0] > cy + reach:
            continue
        dx, dy = xs[None, :] - cx, ys[:, None] - cy
        u, v = (dx * cos + dy * sin) / rx, (dy * cos - dx * sin) / ry
        out |= np.hypot(u, v) < 1 + wobble * np.sin(lobes * np.arctan2(v, u) + phase)
    return out


def _hash01(ix: np.ndarray, iy: np.ndarray, salt: int) -> np.ndarray:
    """A uniform [0, 1) value per integer cell (splitmix64 finaliser):
    the same cell gets the same value on every tile and level."""
    h = (ix.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (iy.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F))
    h ^= np.uint64((salt * 0x165667B19E3779F9) & _MASK64)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _cells(xs: np.ndarray, ys: np.ndarray, cell: int, salt: int) -> np.ndarray:
    """_hash01 of the cells the points fall in, hashing each cell once."""
    cx, ix = np.unique((xs // cell).astype(np.int64), return_inverse=True)
    cy, iy = np.unique((ys // cell).astype(np.int64), return_inverse=True)
    return _hash01(cx[None, :], cy[:, None], salt)[iy[:, None], ix[None, :]]


def _tiles(
    w: int,
    h: int,
    tile: int,
    scale: tuple[float, float],
    blobs: np.ndarray,
    lesions: np.ndarray,
    style: _Style,
    seed: int,
    level: int,
) -> Iterator[np.ndarray]:
    """The level's tiles in row-major order, rendered a batch at a time by a
    thread pool (numpy and zlib release the GIL)."""
    # Glass is one flat colour: noise there would only slow compression down.
    glass = np.empty((tile, tile, 3), dtype=np.uint8)
    glass[...] = GLASS
    palette = _palette(style)
    lesion_style = _STYLES[LESION_PATTERN]
    lesion_palette = _palette(lesion_style)
    step = _MASK_STEP if max(scale) < _MASK_STEP else 1

    def grow(mask: np.ndarray) -> np.ndarray:
        return mask.repeat(step, 0).repeat(step, 1) if step > 1 else mask

    def render(origin: tuple[int, int]) -> np.ndarray:
        ty, tx = origin
        xs = (tx + np.arange(tile) + 0.5) * scale[0]
        ys = (ty + np.arange(tile) + 0.5) * scale[1]
        mask = _inside(xs[::step], ys[::step], blobs)
        if not mask.any():
            return glass
        colour = palette[_texture(xs, ys, style, seed)]
        # The lesions' texture only where one reaches into the tile.
        lesion = mask & _inside(xs[::step], ys[::step], lesions)
        if lesion.any():
            colour = np.where(grow(lesion)[..., None], lesion_palette[_texture(xs, ys, lesion_style, seed)], colour)
        noise = np.random.default_rng([seed, level, ty, tx]).integers(0, 2 * _NOISE + 1, (tile, tile, 1), np.uint8)
        return np.where(grow(mask)[..., None], colour + noise, glass)

    origins = [(ty, tx) for ty in range(0, h, tile) for tx in range(0, w, tile)]
    batch = 4 * (os.cpu_count() or 1)
    with ThreadPoolExecutor() as pool:
        for start in range(0, len(origins), batch):
            yield from pool.map(render, origins[start : start + batch])


_SHADES = 8
_NOISE = 8


def _texture(xs: np.ndarray, ys: np.ndarray, style: _Style, seed: int) -> np.ndarray:
    """Palette indices (shade * 2 + is_nucleus) of the ys x xs points: stroma
    shaded in patches of 16 nuclei, nuclei on their cell grid."""
    shade = (_cells(xs, ys, style.cell * 16, seed * 2 + 1) * _SHADES).astype(np.uint8)
    nuclei = _cells(xs, ys, style.cell, seed * 2) < style.density
    return shade * 2 + nuclei


def _palette(style: _Style) -> np.ndarray:
    """Colours indexed by shade * 2 + is_nucleus, less the noise's offset, so
    that adding noise in [0, 2 * _NOISE] stays within uint8."""
    shades = np.linspace(0.88, 1.04, _SHADES)
    rows = [row for s in shades for row in (np.array(style.stroma) * s, np.array(style.nucleus) * s)]
    return np.clip(np.array(rows) - _NOISE, 0, 255 - 2 * _NOISE).astype(np.uint8)
