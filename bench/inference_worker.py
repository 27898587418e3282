"""Inference worker benchmark: feature extraction with batched, threaded patch
reading against one patch at a time, and the time per slide, stage by stage.

    .venv/bin/python -m bench.inference_worker [--json PATH]    # roughly 5 minutes on 2 idle CPU cores (estimate)
    .venv/bin/python -m bench.inference_worker --quick           # an 8192 px slide, 1 to 4 minutes
    .venv/bin/python -m bench.inference_worker --device cuda     # on a GPU, when torch sees one

In process, no server, no Django: inference_worker.pipeline.Pipeline as a
worker builds it, on a synthetic SVS (inference_worker.synthetic.write_svs,
seed 29; 22016 x 22016 px gives about 2,000 tissue patches of 256 px at
level 0), written to a temporary directory or reused from `--slides-dir`.
Writing it is timed apart and counts nowhere. The extractors are `resnet50`
(the real trunk, ResNet-50 to layer3, with random weights: the same
arithmetic as ImageNet weights, so the same speed) and `tiny` (the demo
extractor); the CLAM model is clam_sb small, untrained (seeded).

1. Per slide: Pipeline.run with its defaults (a thread pool reads one batch
   ahead of the extractor) on every tissue patch, or `--patches` of them;
   the stages from the result's `timings_s`.
2. Feature extraction, batched against naive (Pipeline.run(naive=True):
   read one patch, forward it, next): both on the same `--naive-patches`
   patches, evenly spread over the slide (the pipeline's max_patches), since
   the naive resnet50 pass is the slow part of the run; the fastest of
   `--repeat` runs of each. Then the stage taken apart on the same patches,
   through the pipeline's own patch reader and extractor: reading alone (one
   thread, then the pool), forwarding pre-read patches alone (in batches,
   then one at a time).

Every measurement also tells how many cores' worth of CPU other processes
took meanwhile: above OTHER_CPU_WARNING the figure may be inflated. On a
shared 2-core box that is the rule, and it slows the naive pass most (many
small forward passes, each waiting for every torch thread): the full run
then takes well over 10 minutes, and `--naive-patches 128` keeps it shorter.
"""

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import openslide
import torch

from bench.harness import _box_cpu_seconds, print_table
from inference_worker import dicom_wsi, features, synthetic, tissue
from inference_worker.pipeline import (
    SEG_DOWNSAMPLE,
    Pipeline,
    PipelineConfig,
    _patch_reader,
    default_batch_size,
)

EXTRACTORS = ("resnet50", "tiny")
STAGES = ("segmentation", "features", "model", "heatmap", "total")
# (width, height, seed) of the synthetic slide: about 2,000 and about 280 tissue patches.
FULL_SLIDE = (22016, 22016, 29)
QUICK_SLIDE = (8192, 8192, 29)
FULL_NAIVE_PATCHES = 256
QUICK_NAIVE_PATCHES = 64
# Cores' worth of CPU used by other processes above which a figure is called disturbed.
OTHER_CPU_WARNING = 0.25


@dataclass
class Span:
    seconds: float = 0.0
    other_cpu: float | None = None  # cores' worth of CPU that other processes used meanwhile


@contextlib.contextmanager
def timed() -> Iterator[Span]:
    """Wall time of the block, and how much of the box other processes took meanwhile."""
    span = Span()
    wall, own, box = time.perf_counter(), time.process_time(), _box_cpu_seconds()
    yield span
    span.seconds = time.perf_counter() - wall
    box_end = _box_cpu_seconds()
    if box is not None and box_end is not None and span.seconds > 0:
        others = (box_end - box) - (time.process_time() - own)
        span.other_cpu = round(max(0.0, others) / span.seconds, 2)


# --- The run -------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--extractors", default=",".join(EXTRACTORS), help="comma-separated (default resnet50,tiny)")
    parser.add_argument(
        "--batch-size", type=int, default=0, help="patches per extractor batch (default: the pipeline's for the device)"
    )
    parser.add_argument("--read-threads", type=int, default=4, help="patch-reading threads (default 4)")
    parser.add_argument("--torch-threads", type=int, help="torch.set_num_threads (default: torch's own)")
    parser.add_argument("--patches", type=int, help="max_patches of the per-slide runs (default: all)")
    parser.add_argument(
        "--naive-patches", type=int, help="patches of the batched/naive comparison (default 256, quick 64)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each comparison mode, fastest kept (default 1)")
    parser.add_argument(
        "--width", type=int, help=f"slide width in px (default {FULL_SLIDE[0]}, quick {QUICK_SLIDE[0]})"
    )
    parser.add_argument("--height", type=int, help=f"slide height (default {FULL_SLIDE[1]}, quick {QUICK_SLIDE[1]})")
    parser.add_argument("--seed", type=int, help=f"slide seed (default {FULL_SLIDE[2]})")
    parser.add_argument("--slides-dir", type=Path, help="keep the slide here and reuse it (default: a temp dir)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"an {QUICK_SLIDE[0]} px slide (about 280 patches), {QUICK_NAIVE_PATCHES} in the comparison",
    )
    parser.add_argument(
        "--dicom",
        action="store_true",
        help="measure the slide converted to a DICOM WSI series (JPEG tiles), as fetched from Orthanc",
    )
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    width, height, seed = QUICK_SLIDE if args.quick else FULL_SLIDE
    args.width, args.height = args.width or width, args.height or height
    args.seed = seed if args.seed is None else args.seed
    if args.naive_patches is None:
        args.naive_patches = QUICK_NAIVE_PATCHES if args.quick else FULL_NAIVE_PATCHES
    extractors = [name.strip() for name in args.extractors.split(",") if name.strip()]
    if unknown := set(extractors) - set(EXTRACTORS):
        parser.error(f"unknown extractors {sorted(unknown)}: choose from {', '.join(EXTRACTORS)}")
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    began = time.perf_counter()
    device = features.device_select(args.device)
    args.batch_size = args.batch_size or default_batch_size(device)
    report: dict = {
        "date": dt.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
        "packages": {
            **{name: metadata.version(name) for name in ("torch", "numpy", "openslide-python", "Pillow", "tifffile")},
            "libopenslide": openslide.__library_version__,
        },
        "arguments": {k: str(v) for k, v in vars(args).items()},
        "device": _device_info(device, asked=args.device),
    }
    _print_device(report["device"])

    with contextlib.ExitStack() as stack:
        directory = args.slides_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="iw-bench-")))
        report["slide"] = slide = _slide(
            directory, width=args.width, height=args.height, seed=args.seed, dicom=args.dicom
        )
        print(
            f"slide: {slide['path']} ({args.width} x {args.height} px, seed {args.seed}, levels 1/4/16): "
            f"{slide['tissue_patches']:,} tissue patches of 256 px at level 0; "
            + (f"written in {slide['write_s']:.1f} s (not counted)" if slide["write_s"] is not None else "reused")
        )
        print(
            "extractors: resnet50 = ResNet-50 to layer3 with random weights (the arithmetic, and so the speed, of "
            "ImageNet weights); tiny = the demo extractor. CLAM: clam_sb small, untrained (seeded)."
        )
        report["extractors"] = {}
        for kind in extractors:
            report["extractors"][kind] = _extractor_runs(kind, args, device, Path(slide["path"]))

    print()
    print("per slide: Pipeline.run defaults (batched, threaded reading), seconds per stage")
    print_table([_slide_row(kind, runs["slide"]) for kind, runs in report["extractors"].items()])
    for kind, runs in report["extractors"].items():
        n, total = runs["compare"]["patches"], report["slide"]["tissue_patches"]
        print()
        print(f"features stage, {kind}: {n} of the {total:,} patches, evenly spread, the same in every row")
        print_table(_feature_rows(runs["compare"], args))
    summary = _summary(report, args)
    print()
    print_table(summary)
    report["summary"] = summary
    report["wall_s"] = round(time.perf_counter() - began, 1)
    others = [span for runs in report["extractors"].values() for span in _spans(runs)]
    worst = max((span["other_cpu"] or 0.0 for span in others), default=0.0)
    report["other_cpu_max"] = worst
    print(f"whole run: {report['wall_s']} s; other work on the box: up to {worst:.2f} core")
    if worst > OTHER_CPU_WARNING:
        print("  other processes took a share of the box during some measurements: their times may be inflated")
        if report["device"]["device"] == "cpu" and report["device"]["torch_threads"] > 1:
            # A forward pass waits at every operator for all of torch's threads, and one of them may be descheduled.
            print("  one patch at a time suffers most from shared cores: compare a run with --torch-threads 1")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


def _device_info(device: torch.device, *, asked: str) -> dict:
    info = {
        "asked": asked,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cuda_available": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(device if device.type == "cuda" else 0)
        if torch.cuda.is_available()
        else None,
    }
    return info


def _print_device(info: dict) -> None:
    line = (
        f"device: {info['device']}; torch {torch.__version__}, {info['torch_threads']} torch threads, "
        f"{info['cpu_count']} CPUs ({info['cpus_usable']} usable)"
    )
    if info["gpu"]:
        line += f"; GPU: {info['gpu']}" + ("" if info["device"].startswith("cuda") else " (not used)")
    elif info["asked"].startswith("cuda"):
        line += "; cuda was asked for but is not available: measured on the CPU"
    print(line)


def _slide(directory: Path, *, width: int, height: int, seed: int, dicom: bool = False) -> dict:
    """The synthetic slide (written unless `directory` already holds it), as
    a DICOM WSI series with `dicom`, and its tissue patch count."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"synthetic-{width}x{height}-seed{seed}.svs"
    write_s = None
    if not path.exists():
        print(f"writing a {width} x {height} px synthetic slide ...", flush=True)
        partial = path.with_suffix(".partial.svs")
        with timed() as span:
            synthetic.write_svs(partial, width=width, height=height, seed=seed)
        partial.rename(path)
        write_s = round(span.seconds, 1)
    if dicom:
        series = directory / f"{path.stem}-dicom"
        if not (series / "level-0.dcm").exists():
            print("writing it as a DICOM WSI series ...", flush=True)
            partial = series.with_name(series.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            with timed() as span:
                dicom_wsi.write_series(path, partial)
            partial.rename(series)
            write_s = round((write_s or 0) + span.seconds, 1)
        path = series / "level-0.dcm"
    with openslide.OpenSlide(str(path)) as handle:
        found = tissue.slide_patches(handle, patch_size=256, level=0, seg_downsample=SEG_DOWNSAMPLE)
    size = sum(f.stat().st_size for f in path.parent.glob("*.dcm")) if dicom else path.stat().st_size
    return {"path": str(path), "bytes": size, "write_s": write_s, "tissue_patches": len(found.coords)}


# --- One extractor ---------------------------------------------------------------


def _extractor_runs(kind: str, args: argparse.Namespace, device: torch.device, slide: Path) -> dict:
    config = PipelineConfig(
        extractor=kind,
        batch_size=args.batch_size,
        read_threads=args.read_threads,
        device=str(device),
        model_kind="clam_sb",
        model_size="small",
    )
    print(f"{kind}: building the pipeline ...", flush=True)
    with timed() as span:
        pipeline = Pipeline(config, allow_untrained=True)
    runs: dict = {"load_s": round(span.seconds, 2)}
    _warm_up(pipeline, slide)

    print(f"{kind}: whole slide, batched ...", flush=True)
    runs["slide"] = _pipeline_run(pipeline, slide, patches=args.patches, naive=False)

    n = args.naive_patches
    tries: dict[str, list[dict]] = {"batched": [], "naive": []}
    for attempt in range(args.repeat):
        for mode in ("batched", "naive"):
            print(f"{kind}: {n} patches, {mode} ({attempt + 1}/{args.repeat}) ...", flush=True)
            tries[mode].append(_pipeline_run(pipeline, slide, patches=n, naive=mode == "naive"))
    compare = {mode: min(runs_, key=lambda run: run["timings_s"]["features"]) for mode, runs_ in tries.items()}
    compare["patches"] = compare["batched"]["patches"]
    print(f"{kind}: {n} patches, reading and forwarding apart ...", flush=True)
    compare.update(_stage_apart(pipeline, slide, patches=n))
    runs["compare"] = compare
    return runs


def _warm_up(pipeline: Pipeline, slide: Path) -> None:
    """One small run first: lazy initialisation (allocators, cuDNN) would
    otherwise be charged to the first measurement."""
    size = pipeline.config.patch_size
    pipeline.extractor.extract(np.zeros((1, size, size, 3), dtype=np.uint8))
    pipeline.extractor.extract(np.zeros((pipeline.config.batch_size, size, size, 3), dtype=np.uint8))
    _pipeline_run(pipeline, slide, patches=pipeline.config.batch_size, naive=False)


def _pipeline_run(pipeline: Pipeline, slide: Path, *, patches: int | None, naive: bool) -> dict:
    # max_patches is read from the config on each run: one loaded pipeline serves every size.
    pipeline.config.max_patches = patches
    with timed() as span:
        result = pipeline.run(slide, naive=naive)["result"]
    timings = result["timings_s"]
    return {
        "naive": naive,
        "patches": result["patches"],
        "timings_s": timings,
        "features_pps": _rate(result["patches"], timings["features"]),
        "total_pps": _rate(result["patches"], timings["total"]),
        "wall_s": round(span.seconds, 3),
        "other_cpu": span.other_cpu,
    }


def _stage_apart(pipeline: Pipeline, slide: Path, *, patches: int) -> dict:
    """Reading alone and forwarding alone, on the patches the pipeline picks
    for max_patches=`patches`, with its own reader and extractor."""
    cfg = pipeline.config
    extract = pipeline.extractor.extract

    def reading(threads: int) -> tuple[dict, list[np.ndarray]]:
        # A fresh handle each time, so OpenSlide's tile cache starts as cold as in a run.
        with openslide.OpenSlide(str(slide)) as handle:
            cfg.max_patches = patches
            _found, coords = pipeline.tissue_patches(handle)
            read = _patch_reader(handle, level=cfg.level, size=cfg.patch_size)
            with timed() as span:
                if threads == 1:
                    arrays = [read(xy) for xy in coords]
                else:
                    with ThreadPoolExecutor(max_workers=threads) as pool:
                        arrays = list(pool.map(read, coords))
        return _figure(span, len(arrays)), arrays

    def forwarding(arrays: list[np.ndarray], batch: int, step: Callable[[np.ndarray], torch.Tensor]) -> dict:
        with timed() as span:
            for i in range(0, len(arrays), batch):
                step(np.stack(arrays[i : i + batch]))
        return _figure(span, len(arrays))

    read_one, arrays = reading(1)
    read_pool, _ = reading(cfg.read_threads)
    return {
        "read_one_thread": read_one,
        "read_pool": read_pool,
        "forward_batched": forwarding(arrays, cfg.batch_size, extract),
        "forward_one": forwarding(arrays, 1, extract),
    }


def _figure(span: Span, patches: int) -> dict:
    return {
        "patches": patches,
        "s": round(span.seconds, 3),
        "pps": _rate(patches, span.seconds),
        "other_cpu": span.other_cpu,
    }


def _rate(patches: int, seconds: float) -> float | None:
    return round(patches / seconds, 1) if seconds > 0 else None


def _spans(runs: dict) -> list[dict]:
    compare = runs["compare"]
    apart = ("read_one_thread", "read_pool", "forward_batched", "forward_one")
    return [runs["slide"], compare["batched"], compare["naive"], *(compare[name] for name in apart)]


# --- Output ---------------------------------------------------------------------


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _pps(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _slide_row(kind: str, run: dict) -> dict:
    timings = run["timings_s"]
    return {
        "extractor": kind,
        "patches": f"{run['patches']:,}",
        **{stage: f"{timings[stage]:.2f}" for stage in STAGES},
        "patches/s (total)": _pps(run["total_pps"]),
        "patches/s (features)": _pps(run["features_pps"]),
        "features share": f"{timings['features'] / timings['total']:.0%}",
        "other CPU": _cpu(run["other_cpu"]),
    }


def _feature_rows(compare: dict, args: argparse.Namespace) -> list[dict]:
    batch, threads = args.batch_size, args.read_threads

    def row(how: str, seconds: float, pps: float | None, patches: int, other: float | None) -> dict:
        return {
            "measured": how,
            "s": f"{seconds:.2f}",
            "patches/s": _pps(pps),
            "ms/patch": f"{1000 * seconds / patches:.1f}",
            "other CPU": _cpu(other),
        }

    rows = []
    for mode, how in (
        ("batched", f"Pipeline.run: batches of {batch}, {threads} threads read ahead"),
        ("naive", "Pipeline.run(naive=True): read one, forward one"),
    ):
        run = compare[mode]
        rows.append(row(how, run["timings_s"]["features"], run["features_pps"], run["patches"], run["other_cpu"]))
    for name, how in (
        ("read_one_thread", "read alone, 1 thread"),
        ("read_pool", f"read alone, pool of {threads}"),
        ("forward_batched", f"forward alone, batches of {batch}"),
        ("forward_one", "forward alone, one at a time"),
    ):
        figure = compare[name]
        rows.append(row(how, figure["s"], figure["pps"], figure["patches"], figure["other_cpu"]))
    return rows


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}x"


def _summary(report: dict, args: argparse.Namespace) -> list[dict]:
    rows = []
    runs = report["extractors"]
    for kind, run in runs.items():
        compare = run["compare"]
        batched, naive = compare["batched"], compare["naive"]
        n = compare["patches"]
        rows.append(
            {
                "figure": f"{kind}: features, batched / naive patches/s ({n} patches)",
                "value": f"{_pps(batched['features_pps'])} / {_pps(naive['features_pps'])} = "
                f"{_ratio(batched['features_pps'], naive['features_pps'])}",
            }
        )
        fb, fo = compare["forward_batched"]["pps"], compare["forward_one"]["pps"]
        rows.append(
            {
                "figure": f"{kind}: forward alone, batches of {args.batch_size} / one at a time",
                "value": f"{_pps(fb)} / {_pps(fo)} = {_ratio(fb, fo)}",
            }
        )
        rp, r1 = compare["read_pool"]["pps"], compare["read_one_thread"]["pps"]
        rows.append(
            {
                "figure": f"{kind}: read alone, pool of {args.read_threads} / 1 thread",
                "value": f"{_pps(rp)} / {_pps(r1)} = {_ratio(rp, r1)}",
            }
        )
        # With perfect overlap the batched stage takes as long as the slower of reading and forwarding.
        bound = max(compare["read_pool"]["s"], compare["forward_batched"]["s"])
        rows.append(
            {
                "figure": f"{kind}: batched stage / max(read pool, forward batched)",
                "value": f"{batched['timings_s']['features']:.2f} / {bound:.2f} s = "
                f"{_ratio(batched['timings_s']['features'], bound)}",
            }
        )
        slide = run["slide"]
        timings = slide["timings_s"]
        rows.append(
            {
                "figure": f"{kind}: per slide ({slide['patches']:,} patches), total / features",
                "value": f"{timings['total']:.1f} s / {timings['features']:.1f} s "
                f"({timings['features'] / timings['total']:.0%}), {_pps(slide['total_pps'])} patches/s",
            }
        )
    if "resnet50" in runs and "tiny" in runs:
        big, small = runs["resnet50"]["slide"]["timings_s"]["total"], runs["tiny"]["slide"]["timings_s"]["total"]
        rows.append({"figure": "per slide, resnet50 / tiny (total)", "value": f"{_ratio(big, small)}"})
    return rows


if __name__ == "__main__":
    main()
