"""The pipeline on small synthetic slides, with the demo `tiny` extractor
(ResNet-50 once, on a handful of patches)."""

import io
import math

import numpy as np
import openslide
import pytest
import torch
from PIL import Image

from inference_worker import clam, features, pipeline, synthetic, tissue
from inference_worker.pipeline import Pipeline, PipelineConfig, PipelineConfigError
from inference_worker.slides import SlideNotFound

PATCH = 128


@pytest.fixture(scope="module")
def slide_path(tmp_path_factory):
    return synthetic.write_svs(tmp_path_factory.mktemp("slides") / "case.svs", width=2048, height=1536)


@pytest.fixture(scope="module")
def blank_path(tmp_path_factory):
    return synthetic.write_svs(tmp_path_factory.mktemp("blank") / "blank.svs", width=1024, height=768, tissue="blank")


def _config(**overrides):
    return PipelineConfig(**{"patch_size": PATCH, "extractor": "tiny", "batch_size": 8, **overrides})


@pytest.fixture(scope="module")
def demo():
    return Pipeline(_config(), allow_untrained=True)


@pytest.fixture(scope="module")
def output(demo, slide_path):
    return demo.run(slide_path)


def _checkpoint(path, seed):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        state = clam.build_model().state_dict()
    # The names public CLAM checkpoints use, as saved from DataParallel.
    assert "attention_net.3.attention_a.0.weight" in state and "classifiers.weight" in state
    torch.save({f"module.{k}": v for k, v in state.items()}, path)
    return path


def assert_valid_result(result):
    """The rules the platform server's result validation applies."""
    probabilities = result["probabilities"]
    assert isinstance(result["label"], str) and result["label"] in probabilities
    assert all(isinstance(p, float) and 0 <= p <= 1 for p in probabilities.values())
    assert abs(sum(probabilities.values()) - 1) <= 0.01
    assert result["label"] == max(probabilities, key=probabilities.get)
    for region in result["top_regions"]:
        for key in ("x", "y", "width", "height"):
            assert isinstance(region[key], int) and region[key] >= 0
        assert isinstance(region["score"], float) and math.isfinite(region["score"])


def _without_timings(result):
    return {k: v for k, v in result.items() if k != "timings_s"}


def test_the_result_is_valid(output):
    result = output["result"]

    assert_valid_result(result)
    assert set(result["probabilities"]) == {"normal", "tumor"}
    assert result["untrained"] is True
    assert result["model"] == {"kind": "clam_sb", "size": "small", "checkpoint": None}
    assert result["extractor"]["kind"] == "tiny"
    assert result["device"] == "cpu"
    assert {"segmentation", "features", "model", "heatmap", "total"} <= set(result["timings_s"])


def test_the_patches_are_the_tissue_grid(output, slide_path):
    with openslide.OpenSlide(str(slide_path)) as slide:
        coords = tissue.slide_patches(slide, patch_size=PATCH, level=0, min_tissue=0.5).coords

    result = output["result"]
    assert result["patches"] == len(coords) > 10
    regions = result["top_regions"]
    assert len(regions) == 10
    assert all((r["x"], r["y"]) in coords and r["width"] == r["height"] == PATCH for r in regions)
    scores = [r["score"] for r in regions]
    assert scores == sorted(scores, reverse=True)


def test_the_thumbnail_and_heatmap_are_the_slide_at_up_to_heatmap_max_side(output, slide_path):
    """The synthetic slide is 2048 x 1536: both come at its full size (the
    default HEATMAP_MAX_SIDE is 2048), the heatmap an RGBA PNG to lay over
    the JPEG thumbnail, and result["heatmap"] describes both and the legend."""
    heatmap = Image.open(io.BytesIO(output["heatmap_png"]))
    thumbnail = Image.open(io.BytesIO(output["thumbnail_jpeg"]))

    assert (heatmap.format, heatmap.mode, heatmap.size) == ("PNG", "RGBA", (2048, 1536))
    assert (thumbnail.format, thumbnail.mode, thumbnail.size) == ("JPEG", "RGB", (2048, 1536))
    described = output["result"]["heatmap"]
    assert (described["width"], described["height"]) == (2048, 1536)
    assert (described["slide_width"], described["slide_height"]) == (2048, 1536)
    assert described["colormap"] == "viridis" and len(described["stops"]) == 11
    assert described["stops"][0] == "#440154" and described["stops"][-1] == "#fde725"


def test_a_large_slide_is_scaled_to_heatmap_max_side(slide_path):
    small = Pipeline(_config(heatmap_max_side=512), allow_untrained=True).run(slide_path)

    assert Image.open(io.BytesIO(small["heatmap_png"])).size == (512, 384)
    assert Image.open(io.BytesIO(small["thumbnail_jpeg"])).size == (512, 384)
    assert (small["result"]["heatmap"]["width"], small["result"]["heatmap"]["height"]) == (512, 384)


def test_the_heatmap_is_opaque_over_analysed_tissue_only(output):
    heatmap = np.array(Image.open(io.BytesIO(output["heatmap_png"])))
    alpha = heatmap[..., 3]

    assert alpha[0, 0] == 0  # glass in a corner: the thumbnail shows through
    assert set(np.unique(alpha)) == {0, 255}
    covered = alpha.mean() / 255
    assert 0.05 < covered < 0.95, covered
    # The colours of the painted patches are colour-map entries, both ends present.
    painted = heatmap[alpha == 255][:, :3]
    lut = pipeline.colormap(np.linspace(0, 1, 1001))
    assert painted.min(axis=0).tolist() != painted.max(axis=0).tolist()
    assert np.abs(painted[:, None, :].astype(int) - lut[None, ::50, :].astype(int)).sum(axis=2).min(axis=1).max() < 60


def test_the_top_regions_come_as_tiles_in_their_order(output, slide_path):
    regions = output["result"]["top_regions"]
    tiles = output["tiles_jpeg"]

    assert len(tiles) == len(regions) == 10
    with openslide.OpenSlide(str(slide_path)) as slide:
        for region, tile in zip(regions, tiles, strict=True):
            image = Image.open(io.BytesIO(tile))
            assert (image.format, image.size) == ("JPEG", (pipeline.TILE_SIDE, pipeline.TILE_SIDE))
            # The tile shows that region of the slide (JPEG loses a little).
            expected = slide.read_region((region["x"], region["y"]), 0, (region["width"], region["height"]))
            expected = np.array(expected.convert("RGB").resize(image.size), dtype=float)
            assert np.abs(np.array(image, dtype=float) - expected).mean() < 12


def test_the_same_slide_gives_the_same_output(demo, slide_path, output):
    again = demo.run(slide_path)

    assert _without_timings(again["result"]) == _without_timings(output["result"])
    assert again["heatmap_png"] == output["heatmap_png"]
    assert again["tiles_jpeg"] == output["tiles_jpeg"]


def test_naive_mode_gives_the_same_answer(demo, slide_path, output):
    naive = demo.run(slide_path, naive=True)["result"]
    batched = output["result"]

    assert naive["label"] == batched["label"]
    assert naive["probabilities"] == pytest.approx(batched["probabilities"], abs=1e-4)
    assert naive["patches"] == batched["patches"]
    assert [(r["x"], r["y"]) for r in naive["top_regions"][:3]] == [
        (r["x"], r["y"]) for r in batched["top_regions"][:3]
    ]


def test_progress_grows_from_0_to_100(demo, slide_path):
    calls = []
    demo.run(slide_path, progress=lambda percent, message: calls.append((percent, message)))

    percents = [p for p, _ in calls]
    assert percents[0] == 0 and percents[-1] == 100
    assert percents == sorted(percents) and len(set(percents)) == len(percents)
    assert len(calls) > 4
    assert all(isinstance(p, int) and isinstance(m, str) for p, m in calls)


def test_max_patches_caps_the_bag(slide_path):
    result = Pipeline(_config(max_patches=5, top_k=3), allow_untrained=True).run(slide_path)["result"]

    assert result["patches"] == 5
    assert len(result["top_regions"]) == 3
    assert_valid_result(result)


def test_a_blank_slide_has_no_tissue(demo, blank_path):
    with pytest.raises(tissue.NoTissue, match="no tissue found"):
        demo.run(blank_path)


def test_an_untrained_model_must_be_allowed():
    with pytest.raises(PipelineConfigError, match="untrained"):
        Pipeline(_config())


def test_class_names_must_match_the_classes():
    with pytest.raises(PipelineConfigError, match="class_names"):
        _config(n_classes=3)


def test_a_saved_checkpoint_is_loaded_and_used(tmp_path, slide_path):
    first = Pipeline(_config(model_path=_checkpoint(tmp_path / "first.pt", seed=1))).run(slide_path)["result"]
    second = Pipeline(_config(model_path=_checkpoint(tmp_path / "second.pt", seed=2))).run(slide_path)["result"]

    assert_valid_result(first)
    assert first["untrained"] is False
    assert first["model"]["checkpoint"] == "first.pt"
    assert first["probabilities"] != second["probabilities"]


def test_a_mismatched_checkpoint_is_refused(tmp_path):
    torch.save({"classifiers.weight": torch.zeros(2, 512)}, tmp_path / "bad.pt")

    with pytest.raises(ValueError, match="missing keys"):
        Pipeline(_config(model_path=tmp_path / "bad.pt"))


def test_resnet50_on_a_few_patches(slide_path):
    result = Pipeline(_config(extractor="resnet50", max_patches=3, top_k=2), allow_untrained=True).run(slide_path)

    assert_valid_result(result["result"])
    assert result["result"]["patches"] == 3
    assert result["result"]["extractor"] == {"kind": "resnet50", "weights": None}


def test_percentile_ranks_and_colormap():
    ranks = pipeline.percentile_ranks(torch.tensor([3.0, -1.0, 7.0]).numpy())

    assert ranks.tolist() == [0.5, 0.0, 1.0]
    assert pipeline.percentile_ranks(torch.tensor([2.0]).numpy()).tolist() == [1.0]
    low, middle, high = pipeline.colormap(np.array([0.0, 0.5, 1.0]))
    assert low.tolist() == [68, 1, 84] and high.tolist() == [253, 231, 37]  # dark violet, then yellow
    # Perceptual: lightness (Rec. 709 luma) grows evenly from end to end.
    luma = pipeline.colormap(np.linspace(0, 1, 11)) @ np.array([0.2126, 0.7152, 0.0722])
    assert np.all(np.diff(luma) > 0)
    assert middle.tolist() == [33, 145, 140]


@pytest.fixture
def env(monkeypatch, slide_path):
    pipeline._cached_pipeline.cache_clear()
    monkeypatch.setenv("SVS_STORAGE_DIR", str(slide_path.parent))
    monkeypatch.setenv("FEATURE_EXTRACTOR", "tiny")
    monkeypatch.setenv("PATCH_SIZE", str(PATCH))
    monkeypatch.setenv("BATCH_SIZE", "16")
    monkeypatch.setenv("ALLOW_UNTRAINED_MODEL", "true")
    monkeypatch.delenv("MODEL_PATH", raising=False)
    yield monkeypatch
    pipeline._cached_pipeline.cache_clear()


def test_analyse_runs_the_named_slide(env, slide_path, output):
    calls = []
    out = pipeline.analyse(request={"slide_file": slide_path.name}, progress=lambda p, m: calls.append(p))

    assert_valid_result(out["result"])
    assert out["result"]["patches"] == output["result"]["patches"]
    assert out["heatmap_png"].startswith(b"\x89PNG")
    assert calls[-1] == 100
    assert pipeline.pipeline_from_env() is pipeline.pipeline_from_env()


@pytest.mark.parametrize(
    "request_", [{"slide_file": "missing.svs"}, {"slide_file": "../case.svs"}, {"slide_file": None}, {}]
)
def test_analyse_refuses_an_unreachable_slide(env, request_):
    with pytest.raises(SlideNotFound):
        pipeline.analyse(request=request_, progress=lambda p, m: None)


def test_analyse_needs_slide_storage(env, slide_path):
    env.delenv("SVS_STORAGE_DIR")

    with pytest.raises(SlideNotFound, match="SVS_STORAGE_DIR"):
        pipeline.analyse(request={"slide_file": slide_path.name}, progress=lambda p, m: None)


def test_the_batch_size_is_chosen_by_device_unless_set():
    chosen = Pipeline(PipelineConfig(extractor="tiny", device="cpu"), allow_untrained=True)
    assert chosen.config.batch_size == pipeline.CPU_BATCH_SIZE
    assert pipeline.default_batch_size(torch.device("cuda")) == pipeline.CUDA_BATCH_SIZE
    assert Pipeline(PipelineConfig(extractor="tiny", batch_size=16), allow_untrained=True).config.batch_size == 16
    with pytest.raises(PipelineConfigError):
        PipelineConfig(batch_size=-1)


def test_the_extractor_takes_channels_last_batches():
    extractor = features.build_extractor("tiny")
    assert extractor.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    patches = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    reference = features.TinyExtractor(seed=0).extract(patches)
    assert torch.allclose(extractor.extract(patches), reference, atol=1e-5)
