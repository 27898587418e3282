"""Tissue segmentation on a low-resolution level, and the grid of patches to
analyse (numpy, scipy and Pillow only).

Stained tissue is saturated, glass is not: threshold the HSV saturation of a
thumbnail (Otsu's, unless a fixed threshold is given), smooth it, close small
gaps, drop specks, then keep the patches of the full-resolution grid that are
mostly tissue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

# Glass, even noisy, stays far below this saturation and stained tissue far
# above it; without a floor Otsu splits the noise of a blank slide in two.
MIN_THRESHOLD = 15


class NoTissue(Exception):
    """The slide shows no tissue to analyse."""


def segment(
    thumbnail_rgb: np.ndarray,
    *,
    threshold: int | None = None,
    median: int = 7,
    close: int = 5,
    min_area_fraction: float = 0.0005,
    min_threshold: int = MIN_THRESHOLD,
) -> np.ndarray:
    """The tissue mask (bool, the thumbnail's height x width) of an RGB (or
    RGBA, transparent read as white) uint8 thumbnail. `threshold` fixes the
    saturation above which a pixel is tissue; by default it is Otsu's, but
    never below `min_threshold`, so a blank slide gives an empty mask.
    Components smaller than `min_area_fraction` of the thumbnail are dropped."""
    saturation = _saturation(thumbnail_rgb)
    if median > 1:
        # Pillow's median filter wants an odd size.
        saturation = np.asarray(Image.fromarray(saturation).filter(ImageFilter.MedianFilter(median | 1)))
    if threshold is None:
        threshold = max(otsu_threshold(saturation), min_threshold)
    mask = saturation > threshold
    if close > 1 and mask.any():
        # Padding keeps the closing's erosion from eating tissue at the border.
        mask = ndimage.binary_closing(np.pad(mask, close), structure=np.ones((close, close), dtype=bool))
        mask = mask[close:-close, close:-close]
    return _drop_small(mask, max(1, round(min_area_fraction * mask.size)))


def otsu_threshold(values: np.ndarray) -> int:
    """Otsu's threshold of uint8 values: the t maximising the between-class
    variance of (values <= t, values > t). A constant image gets its value,
    so nothing lies above it."""
    hist = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    weight = np.cumsum(hist)
    total = weight[-1]
    if total == 0:
        return 255
    cumulative = np.cumsum(hist * np.arange(256))
    below = weight
    above = total - weight
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_below = cumulative / below
        mean_above = (cumulative[-1] - cumulative) / above
        between = below * above * (mean_below - mean_above) ** 2
    between[~np.isfinite(between)] = 0
    if not between.any():
        return int(values.max())
    return int(np.argmax(between))


def patch_grid(
    slide_dims_level0: Sequence[int],
    mask: np.ndarray,
    mask_downsample: float | Sequence[float],
    *,
    patch_size: int = 256,
    level: int = 0,
    level_downsample: float = 1.0,
    min_tissue: float = 0.5,
) -> list[tuple[int, int]]:
    """Level-0 (x, y) corners of the non-overlapping patches of `patch_size`
    pixels at `level` (of `level_downsample`) that lie wholly in the slide
    and whose tissue fraction in `mask` (the slide at `mask_downsample`, one
    number or (x, y)) is at least `min_tissue` and above zero; row-major."""
    if level == 0 and level_downsample != 1:
        raise ValueError("level 0 has a downsample of 1")
    size = round(patch_size * level_downsample)
    width, height = slide_dims_level0
    xs = np.arange(0, width - size + 1, size)
    ys = np.arange(0, height - size + 1, size)
    if not len(xs) or not len(ys) or not mask.any():
        return []
    fractions = _fractions(mask, mask_downsample, xs, ys, size)
    rows, cols = np.nonzero((fractions >= min_tissue) & (fractions > 0))
    return [(int(xs[c]), int(ys[r])) for r, c in zip(rows, cols, strict=True)]


def tissue_fraction(mask: np.ndarray, mask_downsample: float | Sequence[float], x0: int, y0: int, size: int) -> float:
    """The tissue fraction of the level-0 square (x0, y0, size) in `mask`."""
    return float(_fractions(mask, mask_downsample, np.array([x0]), np.array([y0]), size)[0, 0])


class _Slide(Protocol):
    """The part of openslide.OpenSlide used here."""

    level_dimensions: tuple[tuple[int, int], ...]
    level_downsamples: tuple[float, ...]

    def get_best_level_for_downsample(self, downsample: float) -> int: ...

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> Image.Image: ...


class TissuePatches(NamedTuple):
    coords: list[tuple[int, int]]
    mask: np.ndarray
    mask_downsample: tuple[float, float]


def slide_patches(
    slide: _Slide,
    *,
    patch_size: int = 256,
    level: int = 0,
    min_tissue: float = 0.5,
    seg_downsample: float = 64,
    **segment_options,
) -> TissuePatches:
    """Segment an open slide on its level nearest `seg_downsample` and grid
    it into patches; raises NoTissue when no patch qualifies."""
    seg_level = slide.get_best_level_for_downsample(seg_downsample)
    seg_dims = slide.level_dimensions[seg_level]
    width, height = slide.level_dimensions[0]
    thumbnail = np.asarray(slide.read_region((0, 0), seg_level, seg_dims))
    mask = segment(thumbnail, **segment_options)
    mask_downsample = (width / seg_dims[0], height / seg_dims[1])
    coords = patch_grid(
        (width, height),
        mask,
        mask_downsample,
        patch_size=patch_size,
        level=level,
        level_downsample=slide.level_downsamples[level],
        min_tissue=min_tissue,
    )
    if not coords:
        raise NoTissue(f"no {patch_size}-pixel patch at level {level} is {min_tissue:.0%} tissue")
    return TissuePatches(coords, mask, mask_downsample)


def _saturation(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise ValueError("expected an RGB or RGBA uint8 image")
    if image.shape[2] == 4:
        # OpenSlide leaves regions without data transparent: read them as glass.
        alpha = image[..., 3:].astype(np.uint16)
        image = ((image[..., :3] * alpha + 255 * (255 - alpha)) // 255).astype(np.uint8)
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).convert("HSV"))[..., 1]


def _drop_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if not count:
        return mask
    areas = np.bincount(labels.ravel())
    keep = areas >= min_area
    keep[0] = False
    return keep[labels]


def _fractions(
    mask: np.ndarray, mask_downsample: float | Sequence[float], xs: np.ndarray, ys: np.ndarray, size: int
) -> np.ndarray:
    """Tissue fractions of the level-0 squares (xs x ys grid, side `size`),
    from a summed-area table of the mask: (len(ys), len(xs))."""
    dx, dy = (mask_downsample, mask_downsample) if np.isscalar(mask_downsample) else mask_downsample
    table = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    table[1:, 1:] = mask.cumsum(0).cumsum(1)

    def bounds(starts: np.ndarray, scale: float, limit: int) -> tuple[np.ndarray, np.ndarray]:
        lo = np.clip(np.round(starts / scale).astype(np.int64), 0, limit)
        hi = np.clip(np.maximum(np.round((starts + size) / scale).astype(np.int64), lo + 1), 0, limit)
        return lo, hi

    x0, x1 = bounds(xs, dx, mask.shape[1])
    y0, y1 = bounds(ys, dy, mask.shape[0])
    inside = (
        table[y1[:, None], x1[None, :]]
        - table[y0[:, None], x1[None, :]]
        - table[y1[:, None], x0[None, :]]
        + table[y0[:, None], x0[None, :]]
    )
    area = (y1 - y0)[:, None] * (x1 - x0)[None, :]
    return np.divide(inside, area, out=np.zeros(inside.shape), where=area > 0)
