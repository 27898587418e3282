"""The demo model trained on synthetic slides: it tells tumour from normal
on slides it has not seen, through the worker's own pipeline, and its
attention points at the lesions."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from inference_worker import clam, pipeline, synthetic, tissue, train_demo
from inference_worker.pipeline import Pipeline, PipelineConfig

ROOT = Path(__file__).resolve().parents[2]
# Seeds no training slide has (those are seed * 10_000 + a few dozen).
NEW_TUMOR, NEW_NORMAL = 9_991, 9_990


@pytest.fixture(scope="module")
def demo_pipeline(demo_model):
    return Pipeline(
        PipelineConfig(model_path=demo_model.checkpoint, extractor="tiny", patch_size=train_demo.PATCH_SIZE, top_k=3)
    )


@pytest.fixture(scope="module")
def new_slides(tmp_path_factory):
    folder = tmp_path_factory.mktemp("new-slides")
    return {
        label: train_demo.write_slide(folder / f"{label}.svs", label=label, seed=seed)
        for label, seed in (("tumor", NEW_TUMOR), ("normal", NEW_NORMAL))
    }


@pytest.mark.slow
def test_it_tells_held_out_slides_apart(demo_model):
    card = json.loads(demo_model.card.read_text())
    described = {
        "class_names": ["normal", "tumor"],
        "model_kind": "clam_sb",
        "model_size": "small",
        "extractor": "tiny",
        "patch_size": 256,
        "seed": 0,
        "slides": 12,
        "held_out_slides": 4,
        "held_out_accuracy": demo_model.held_out_accuracy,
    }

    assert demo_model.held_out_accuracy >= 0.75
    assert {key: card[key] for key in described} == described
    assert card["held_out_per_class_accuracy"] == demo_model.per_class_accuracy


@pytest.mark.slow
def test_the_checkpoint_is_a_plain_state_dict_with_public_clam_names(demo_model):
    state = torch.load(demo_model.checkpoint, map_location="cpu", weights_only=True)
    model = clam.build_model("clam_sb", "small", 2)

    assert {"attention_net.3.attention_a.0.weight", "classifiers.weight", "instance_classifiers.1.weight"} <= set(state)
    model.load_state_dict(state, strict=True)
    clam.load_checkpoint(model, demo_model.checkpoint)


@pytest.mark.slow
def test_the_worker_environment_runs_the_model(demo_model, new_slides, monkeypatch):
    for name, value in demo_model.worker_env().items():
        monkeypatch.setenv(name, value)
    config, allow_untrained = pipeline.config_from_env()

    assert demo_model.worker_env() == {
        "MODEL_PATH": str(demo_model.checkpoint.resolve()),
        "MODEL_KIND": "clam_sb",
        "MODEL_SIZE": "small",
        "CLASS_NAMES": "normal,tumor",
        "FEATURE_EXTRACTOR": "tiny",
        "PATCH_SIZE": "256",
    }
    assert Pipeline(config, allow_untrained=allow_untrained).run(new_slides["tumor"])["result"]["label"] == "tumor"


@pytest.mark.slow
@pytest.mark.parametrize("label", ["tumor", "normal"])
def test_the_pipeline_classifies_new_slides(demo_pipeline, new_slides, label):
    result = demo_pipeline.run(new_slides[label])["result"]

    assert result["label"] == label
    assert result["untrained"] is False
    assert result["model"]["checkpoint"] == train_demo.CHECKPOINT_NAME


@pytest.mark.slow
def test_the_top_attention_regions_are_lesions(demo_pipeline, new_slides):
    # The heatmap means something: the patches the model looks at most are tumour.
    width, height = train_demo.WIDTH, train_demo.HEIGHT
    lesions = synthetic.lesion_mask(
        width, height, downsample=16, seed=NEW_TUMOR, lesions=train_demo.lesion_count("tumor", NEW_TUMOR)
    )
    regions = demo_pipeline.run(new_slides["tumor"])["result"]["top_regions"]
    covered = [tissue.tissue_fraction(lesions, 16, r["x"], r["y"], r["width"]) for r in regions]

    # Lesions are a minority of the tissue, so chance would mostly miss them.
    assert lesions.sum() < 0.5 * synthetic.tissue_mask(width, height, downsample=16, seed=NEW_TUMOR).sum()
    assert len(regions) == 3
    assert min(covered) > 0, covered
    assert sum(fraction >= 0.5 for fraction in covered) >= 2, covered


@pytest.mark.slow
def test_the_same_seed_trains_the_same_checkpoint(tmp_path):
    def state(folder, seed):
        result = train_demo.train(
            tmp_path / folder, slides_per_class=2, seed=seed, epochs=2, held_out=0.5, width=2048, height=1536
        )
        return torch.load(result.checkpoint, weights_only=True)

    first, again, other = state("first", 1), state("again", 1), state("other", 2)

    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_tumour_slides_have_lesions_and_normal_ones_none():
    assert train_demo.lesion_count("normal", 7) == 0
    assert {train_demo.lesion_count("tumor", seed) for seed in range(6)} == {1, 2, 3}
    with pytest.raises(ValueError):
        train_demo.lesion_count("benign", 1)


@pytest.mark.slow
def test_the_command_prints_the_worker_environment(tmp_path):
    run = subprocess.run(
        [
            *(sys.executable, "-m", "inference_worker.train_demo", "--out", str(tmp_path)),
            *("--slides", "2", "--epochs", "1", "--width", "2048", "--height", "1536"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )

    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert f"MODEL_PATH={(tmp_path / train_demo.CHECKPOINT_NAME).resolve()}" in lines
    assert {"MODEL_KIND=clam_sb", "MODEL_SIZE=small", "CLASS_NAMES=normal,tumor", "FEATURE_EXTRACTOR=tiny"} <= set(
        lines
    )
    assert (tmp_path / train_demo.CARD_NAME).exists()
