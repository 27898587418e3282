"""One slide's analysis: tissue patches, their features, CLAM, a heatmap.

A `Pipeline` is built once per worker (loading the feature extractor and the
CLAM checkpoint is the slow part) and then `run` on one slide after another.
`analyse` is the entry point the platform server calls when it runs the
analysis itself (PATHOLOGY_PIPELINE = "inference_worker.pipeline.analyse"):
it builds its Pipeline from environment variables.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import openslide
import torch
from PIL import Image

from . import clam, features, slides, tissue

logger = logging.getLogger(__name__)

Progress = Callable[[int, str], Any]

# The level tissue is segmented on (nearest this downsample).
SEG_DOWNSAMPLE = 64
HEATMAP_MAX_SIDE = 2048
TILE_SIDE = 256
THUMBNAIL_QUALITY = 85
TILE_QUALITY = 85
# Progress is reported when the percent grows, and at least this often
# otherwise: it is what renews the server's lease on the request.
PROGRESS_EVERY_S = 30.0
CPU_BATCH_SIZE = 4
CUDA_BATCH_SIZE = 64
# Share of the percent scale each stage ends at.
_SEGMENTED, _EXTRACTED, _CLASSIFIED = 5, 90, 95


class PipelineConfigError(ValueError):
    """The pipeline cannot be built as configured."""


@dataclass
class PipelineConfig:
    patch_size: int = 256
    level: int = 0
    min_tissue: float = 0.5
    batch_size: int = 0  # 0: by device, see default_batch_size
    read_threads: int = 4
    extractor: str = "resnet50"  # or "tiny", the demo/test extractor
    extractor_weights: Path | None = None
    model_path: Path | None = None
    model_kind: str = "clam_sb"
    model_size: str = "small"
    n_classes: int = 2
    class_names: Sequence[str] = field(default=("normal", "tumor"))
    device: str = "cpu"
    top_k: int = 10
    max_patches: int | None = None
    # The heatmap and the thumbnail under it: at most this many pixels on the long side.
    heatmap_max_side: int = HEATMAP_MAX_SIDE
    # The side of the JPEG tile of each top region.
    tile_side: int = TILE_SIDE

    def __post_init__(self):
        self.class_names = tuple(self.class_names)
        if len(self.class_names) != self.n_classes or len(set(self.class_names)) != self.n_classes:
            raise PipelineConfigError(f"class_names must be {self.n_classes} distinct names, got {self.class_names}")
        for name in ("patch_size", "read_threads", "heatmap_max_side", "tile_side"):
            if getattr(self, name) < 1:
                raise PipelineConfigError(f"{name} must be at least 1")
        if self.batch_size < 0:
            raise PipelineConfigError("batch_size must be at least 1 (or 0 to choose by device)")
        if self.max_patches is not None and self.max_patches < 1:
            raise PipelineConfigError("max_patches must be at least 1 (or None for all)")


def default_batch_size(device: torch.device) -> int:
    """Patches per extractor batch when BATCH_SIZE is not set. On a CPU,
    small batches are faster (ResNet-50 on 2 cores: 4 to 8 patches a batch
    beat 32 by 1.3-1.7x, bench/RESULTS.md); a GPU wants large ones."""
    return CUDA_BATCH_SIZE if device.type == "cuda" else CPU_BATCH_SIZE


class Pipeline:
    """The loaded models and the steps of one slide's analysis.

    Without `config.model_path` the CLAM model is randomly initialised
    (seeded), which is allowed only with `allow_untrained=True` and then
    declared in every result as `"untrained": true`."""

    def __init__(self, config: PipelineConfig, *, allow_untrained: bool = False, seed: int = 0):
        self.device = features.device_select(config.device)
        if not config.batch_size:
            config = dataclasses.replace(config, batch_size=default_batch_size(self.device))
        self.config = config
        self.extractor = features.build_extractor(config.extractor, weights=config.extractor_weights, seed=seed).to(
            self.device
        )
        if config.model_path is None and not allow_untrained:
            raise PipelineConfigError("no CLAM checkpoint (model_path) given and an untrained model is not allowed")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = clam.build_model(config.model_kind, config.model_size, config.n_classes)
        if config.model_path is not None:
            clam.load_checkpoint(model, config.model_path)
        self.trained = config.model_path is not None
        self.model = model.to(self.device).eval()

    def run(self, slide_path: str | Path, *, progress: Progress | None = None, naive: bool = False) -> dict:
        """Analyse one slide: `{"result": {...}, "heatmap_png": bytes,
        "thumbnail_jpeg": bytes, "tiles_jpeg": [bytes, ...]}`. The heatmap
        is an RGBA PNG the size of the thumbnail (long side at most
        heatmap_max_side), opaque over analysed tissue and transparent
        elsewhere, to lay over the thumbnail at any opacity; its colour map
        is described in result["heatmap"]. The tiles are the top regions'
        (result["top_regions"], in that order), tile_side pixels square.

        `naive=True` reads one patch and forwards it at a time (a baseline
        for benchmarks); the default reads batches in a thread pool, one
        batch ahead of the extractor. Raises tissue.NoTissue on a slide
        without tissue."""
        cfg = self.config
        report = _Reporter(progress)
        timings: dict[str, float] = {}
        started = clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = round(now - clock, 3)
            clock = now

        report(0, "opening the slide")
        with openslide.OpenSlide(str(slide_path)) as slide:
            slide_width, slide_height = slide.dimensions
            found, coords = self.tissue_patches(slide)
            size0 = round(cfg.patch_size * slide.level_downsamples[cfg.level])
            lap("segmentation")
            report(_SEGMENTED, f"{len(coords)} tissue patches")

            read = _patch_reader(slide, level=cfg.level, size=cfg.patch_size)
            extract = self._features_naive if naive else self._features_batched
            bag = extract(coords, read, report)
            lap("features")

            with torch.inference_mode():
                out = self.model(bag.to(self.device))
            probabilities = out["probabilities"][0].float().cpu().numpy().astype(np.float64)
            attention = out["attention"].float().cpu().numpy().astype(np.float64)
            lap("model")
            report(_CLASSIFIED, "painting the heatmap")

            thumbnail = slide_thumbnail(slide, max_side=cfg.heatmap_max_side)
            heatmap_png = _heatmap(thumbnail.size, slide.dimensions, found, coords, size0, attention)
            top_regions = _top_regions(coords, size0, attention, cfg.top_k)
            tiles = [_tile(slide, region, cfg.tile_side) for region in top_regions]
            lap("heatmap")
        timings["total"] = round(time.perf_counter() - started, 3)

        result = {
            **_prediction(probabilities, cfg.class_names),
            "top_regions": top_regions,
            "heatmap": {
                "width": thumbnail.width,
                "height": thumbnail.height,
                "slide_width": slide_width,
                "slide_height": slide_height,
                **HEATMAP_LEGEND,
            },
            "patches": len(coords),
            "patch_size": cfg.patch_size,
            "level": cfg.level,
            "model": {
                "kind": cfg.model_kind,
                "size": cfg.model_size,
                "checkpoint": Path(cfg.model_path).name if cfg.model_path is not None else None,
            },
            "untrained": not self.trained,
            "extractor": {
                "kind": cfg.extractor,
                "weights": Path(cfg.extractor_weights).name if cfg.extractor_weights is not None else None,
            },
            "device": str(self.device),
            "timings_s": timings,
        }
        report(100, "done")
        return {
            "result": result,
            "heatmap_png": heatmap_png,
            "thumbnail_jpeg": _jpeg(thumbnail, THUMBNAIL_QUALITY),
            "tiles_jpeg": tiles,
        }

    def tissue_patches(self, slide: openslide.OpenSlide) -> tuple[tissue.TissuePatches, list[tuple[int, int]]]:
        """The slide's segmentation and the patches `run` analyses (at most
        `max_patches`). Raises tissue.NoTissue on a slide without tissue."""
        cfg = self.config
        try:
            found = tissue.slide_patches(
                slide,
                patch_size=cfg.patch_size,
                level=cfg.level,
                min_tissue=cfg.min_tissue,
                seg_downsample=SEG_DOWNSAMPLE,
            )
        except tissue.NoTissue as exc:
            raise tissue.NoTissue(f"no tissue found: {exc}") from exc
        return found, _subsample(found.coords, cfg.max_patches)

    def slide_features(self, slide_path: str | Path) -> torch.Tensor:
        """The bag of features ([patches, 1024]) `run` gives CLAM for this
        slide: for training a model on what the worker will see."""
        cfg = self.config
        with openslide.OpenSlide(str(slide_path)) as slide:
            _found, coords = self.tissue_patches(slide)
            read = _patch_reader(slide, level=cfg.level, size=cfg.patch_size)
            return self._features_batched(coords, read, lambda _percent, _message: None)

    def _features_batched(self, coords, read, report) -> torch.Tensor:
        cfg = self.config
        batches = [coords[i : i + cfg.batch_size] for i in range(0, len(coords), cfg.batch_size)]
        chunks = []
        with ThreadPoolExecutor(max_workers=cfg.read_threads, thread_name_prefix="patch-read") as pool:
            pending: list[Future] = [pool.submit(read, xy) for xy in batches[0]]
            for i in range(len(batches)):
                patches = np.stack([future.result() for future in pending])
                if i + 1 < len(batches):
                    # Read the next batch while this one goes through the extractor.
                    pending = [pool.submit(read, xy) for xy in batches[i + 1]]
                chunks.append(self.extractor.extract(patches))
                report(
                    _stage(i + 1, len(batches)), f"features {min((i + 1) * cfg.batch_size, len(coords))}/{len(coords)}"
                )
        return torch.cat(chunks)

    def _features_naive(self, coords, read, report) -> torch.Tensor:
        chunks = []
        for i, xy in enumerate(coords):
            chunks.append(self.extractor.extract(read(xy)[None]))
            report(_stage(i + 1, len(coords)), f"features {i + 1}/{len(coords)}")
        return torch.cat(chunks)


class _Reporter:
    """Calls `progress` when the percent grows, or when it has been quiet
    for PROGRESS_EVERY_S; never with a smaller percent than before."""

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.percent = -1
        self.last = 0.0

    def __call__(self, percent: int, message: str) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if percent > self.percent or now - self.last >= PROGRESS_EVERY_S:
            self.percent = max(percent, self.percent)
            self.last = now
            self.progress(self.percent, message)


def _stage(done: int, total: int) -> int:
    return _SEGMENTED + (_EXTRACTED - _SEGMENTED) * done // max(total, 1)


def _subsample(coords: list[tuple[int, int]], limit: int | None) -> list[tuple[int, int]]:
    """At most `limit` patches, evenly spread over the (row-major) grid."""
    if limit is None or len(coords) <= limit:
        return list(coords)
    picks = np.linspace(0, len(coords) - 1, limit).round().astype(int)
    return [coords[i] for i in picks]


def slide_thumbnail(slide: openslide.OpenSlide, *, max_side: int) -> Image.Image:
    """The whole slide, RGB, its long side at most `max_side` (never larger
    than level 0): read from the smallest level that is still at least that
    large, then scaled down."""
    width, height = slide.dimensions
    scale = min(1.0, max_side / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    level = slide.get_best_level_for_downsample(1 / scale)
    image = slide.read_region((0, 0), level, slide.level_dimensions[level])
    # Transparent (unscanned) areas read as glass, white.
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    image = Image.alpha_composite(white, image).convert("RGB")
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()


def _tile(slide: openslide.OpenSlide, region: dict, side: int) -> bytes:
    """A region (level-0 x, y, width, height) as a `side`-pixel JPEG."""
    width, height = region["width"], region["height"]
    scale = max(width, height) / side
    level = slide.get_best_level_for_downsample(max(scale, 1.0))
    downsample = slide.level_downsamples[level]
    size = (max(1, round(width / downsample)), max(1, round(height / downsample)))
    image = slide.read_region((region["x"], region["y"]), level, size)
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    image = Image.alpha_composite(white, image).convert("RGB")
    if image.size != (side, side):
        image = image.resize((side, side), Image.Resampling.LANCZOS)
    return _jpeg(image, TILE_QUALITY)


def _patch_reader(slide: openslide.OpenSlide, *, level: int, size: int) -> Callable[[tuple[int, int]], np.ndarray]:
    # OpenSlide handles are thread-safe, so the pool's threads share one.
    def read(xy: tuple[int, int]) -> np.ndarray:
        return np.array(slide.read_region((int(xy[0]), int(xy[1])), level, (size, size)).convert("RGB"))

    return read


def _prediction(probabilities: np.ndarray, class_names: Sequence[str]) -> dict:
    p = np.clip(probabilities, 0.0, 1.0)
    p = p / p.sum()
    best = int(np.argmax(p))
    return {
        "label": class_names[best],
        "probabilities": {name: round(float(value), 6) for name, value in zip(class_names, p, strict=True)},
    }


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()


def _top_regions(coords: list[tuple[int, int]], size0: int, attention: np.ndarray, top_k: int) -> list[dict]:
    """The `top_k` patches by attention, in level-0 pixels; the score is the
    patch's attention weight (softmax over the slide's patches)."""
    weights = _softmax(attention)
    order = np.argsort(-attention, kind="stable")[:top_k]
    return [
        {
            "x": int(coords[i][0]),
            "y": int(coords[i][1]),
            "width": size0,
            "height": size0,
            "score": round(float(weights[i]), 6),
        }
        for i in order
    ]


def percentile_ranks(values: np.ndarray) -> np.ndarray:
    """Each value's rank scaled to [0, 1] (ties broken by position); a
    single value ranks 1."""
    n = len(values)
    if n == 1:
        return np.ones(1)
    ranks = np.empty(n)
    ranks[np.argsort(values, kind="stable")] = np.arange(n)
    return ranks / (n - 1)


# A perceptual colour map in the manner of viridis: dark violet (low
# attention) through blue and green to yellow (high), its lightness rising
# evenly, readable in grey and by most colour-blind readers. Eleven stops,
# interpolated linearly; the page draws the same stops as its legend.
COLORMAP_NAME = "viridis"
_COLORMAP_HEX = (
    "#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c",
    "#22a884", "#44bf70", "#7ad151", "#bddf26", "#fde725",
)  # fmt: skip
_COLORMAP_STOPS = np.linspace(0.0, 1.0, len(_COLORMAP_HEX))
_COLORMAP_RGB = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in _COLORMAP_HEX], dtype=np.float64)
# What result["heatmap"] says of the colours, for the page's legend.
HEATMAP_LEGEND = {
    "colormap": COLORMAP_NAME,
    "stops": list(_COLORMAP_HEX),
    "scale": "attention percentile rank",
    "low": 0.0,
    "high": 1.0,
}


def colormap(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB (shape + (3,)), dark violet to yellow."""
    values = np.clip(values, 0.0, 1.0)
    channels = [np.interp(values, _COLORMAP_STOPS, _COLORMAP_RGB[:, c]) for c in range(3)]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


def _heatmap(
    size: tuple[int, int],
    slide_size: tuple[int, int],
    found: tissue.TissuePatches,
    coords: list[tuple[int, int]],
    size0: int,
    attention: np.ndarray,
) -> bytes:
    """Percentile-ranked attention painted at the patches' places on a grid
    of `size` (the thumbnail's), colour-mapped: an RGBA PNG, opaque over the
    analysed tissue, transparent elsewhere."""
    width, height = size
    sx, sy = width / slide_size[0], height / slide_size[1]
    scores = np.zeros((height, width))
    painted = np.zeros((height, width), dtype=bool)
    for (x, y), rank in zip(coords, percentile_ranks(attention), strict=True):
        x0, y0 = int(x * sx), int(y * sy)
        x1, y1 = max(x0 + 1, math.ceil((x + size0) * sx)), max(y0 + 1, math.ceil((y + size0) * sy))
        scores[y0:y1, x0:x1] = rank
        painted[y0:y1, x0:x1] = True
    # The tissue mask, segmented on a smaller level, stretched to the grid.
    mask = Image.fromarray(found.mask.astype(np.uint8) * 255, "L")
    mask_width = round(found.mask.shape[1] * found.mask_downsample[0] * sx)
    mask_height = round(found.mask.shape[0] * found.mask_downsample[1] * sy)
    mask = mask.resize((max(1, mask_width), max(1, mask_height)), Image.Resampling.NEAREST)
    tissue_mask = np.zeros((height, width), dtype=bool)
    overlap = np.array(mask)[:height, :width] > 0
    tissue_mask[: overlap.shape[0], : overlap.shape[1]] = overlap
    rgba = np.dstack([colormap(scores), ((painted & tissue_mask) * 255).astype(np.uint8)])
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, format="PNG", optimize=True)
    return out.getvalue()


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value) if value else None


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def config_from_env() -> tuple[PipelineConfig, bool]:
    """The PipelineConfig and allow_untrained the environment asks for:
    MODEL_PATH, MODEL_KIND, MODEL_SIZE, CLASS_NAMES (comma-separated),
    DEVICE, FEATURE_EXTRACTOR (resnet50|tiny), EXTRACTOR_WEIGHTS, PATCH_SIZE,
    BATCH_SIZE, HEATMAP_MAX_SIDE, ALLOW_UNTRAINED_MODEL."""
    names = tuple(n.strip() for n in os.environ.get("CLASS_NAMES", "normal,tumor").split(",") if n.strip())
    config = PipelineConfig(
        patch_size=int(os.environ.get("PATCH_SIZE", "256")),
        batch_size=int(os.environ.get("BATCH_SIZE", "").strip() or 0),
        extractor=os.environ.get("FEATURE_EXTRACTOR", "resnet50").strip(),
        extractor_weights=_env_path("EXTRACTOR_WEIGHTS"),
        model_path=_env_path("MODEL_PATH"),
        model_kind=os.environ.get("MODEL_KIND", "clam_sb").strip(),
        model_size=os.environ.get("MODEL_SIZE", "small").strip(),
        n_classes=len(names),
        class_names=names,
        device=os.environ.get("DEVICE", "cpu"),
        heatmap_max_side=int(os.environ.get("HEATMAP_MAX_SIDE", "").strip() or HEATMAP_MAX_SIDE),
    )
    return config, _env_bool("ALLOW_UNTRAINED_MODEL")


@lru_cache(maxsize=1)
def _cached_pipeline(config_key: str, allow_untrained: bool) -> Pipeline:
    config, _ = config_from_env()
    return Pipeline(config, allow_untrained=allow_untrained)


def pipeline_from_env() -> Pipeline:
    """The Pipeline the environment describes, built once and reused for as
    long as the environment asks for the same one."""
    config, allow_untrained = config_from_env()
    return _cached_pipeline(repr(config), allow_untrained)


def analyse(*, request: dict, progress: Progress) -> dict:
    """Analyse the slide a request names (a file under SVS_STORAGE_DIR, or
    through Orthanc: ORTHANC_URL, ORTHANC_USER, ORTHANC_PASSWORD, see
    slides.SlideSource): `{"result": {...}, "heatmap_png": bytes}`. Raises
    SlideNotFound when the slide cannot be found, SlideUnavailable when
    Orthanc is down, tissue.NoTissue on a slide without tissue."""
    source = slides.slide_source(
        storage_dir=os.environ.get("SVS_STORAGE_DIR", "").strip(),
        orthanc_url=os.environ.get("ORTHANC_URL", "").strip(),
        orthanc_user=os.environ.get("ORTHANC_USER", ""),
        orthanc_password=os.environ.get("ORTHANC_PASSWORD", ""),
        download_dir=os.environ.get("SLIDE_DOWNLOAD_DIR", "").strip(),
        max_download_mb=int(os.environ.get("SLIDE_DOWNLOAD_MAX_MB", "").strip() or 20 * 1024),
    )
    if request.get("slide_path"):
        # A slide uploaded to the platform, which runs this itself: its path there.
        return pipeline_from_env().run(Path(request["slide_path"]), progress=progress)
    with source.open(request, progress) as path:
        return pipeline_from_env().run(path, progress=progress)
