"""Train a demo CLAM model on synthetic slides, end to end, on a CPU.

Two classes of synthetic slide: "normal" is pattern-"a" tissue, "tumor" the
same tissue with a few pattern-"b" lesions covering a minority of its
patches. Each slide's tissue patches go through the demo `tiny` extractor
once, by the pipeline's own tissue and feature code; CLAM-SB is trained on
those bags (bag cross-entropy plus CLAM's instance clustering loss), scored
on held-out slides, and saved as a plain state dict with public CLAM's key
names, next to a JSON card. The worker then runs it with the environment
lines this prints. It shows that the whole path learns and that its
attention points at the lesions; it is not a pathology model.

    python -m inference_worker.train_demo --out demo-model
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from . import clam, synthetic
from .pipeline import Pipeline, PipelineConfig

logger = logging.getLogger(__name__)

CLASS_NAMES = ("normal", "tumor")
MODEL_KIND = "clam_sb"
MODEL_SIZE = "small"
EXTRACTOR = "tiny"
PATCH_SIZE = 256
# At this size a slide has some 15-70 tissue patches of 256 pixels, and a
# tumour slide's lesions cover some 15% of its tissue (at most about a third).
WIDTH, HEIGHT = 5120, 3840
LESIONS = (1, 3)
CHECKPOINT_NAME = "clam_sb_demo.pt"
CARD_NAME = "clam_sb_demo.json"


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Path
    card: Path
    held_out_accuracy: float
    per_class_accuracy: dict[str, float]
    train_slides: int
    held_out_slides: int
    seconds: float

    def worker_env(self) -> dict[str, str]:
        """The worker's environment variables that run this model."""
        return {
            "MODEL_PATH": str(self.checkpoint.resolve()),
            "MODEL_KIND": MODEL_KIND,
            "MODEL_SIZE": MODEL_SIZE,
            "CLASS_NAMES": ",".join(CLASS_NAMES),
            "FEATURE_EXTRACTOR": EXTRACTOR,
            "PATCH_SIZE": str(PATCH_SIZE),
        }


def lesion_count(label: str, seed: int) -> int:
    """How many lesions the demo slide of this class and seed has."""
    if label not in CLASS_NAMES:
        raise ValueError(f"label must be one of {CLASS_NAMES}, not {label!r}")
    if label == "normal":
        return 0
    low, high = LESIONS
    return low + seed % (high - low + 1)


def write_slide(path: str | Path, *, label: str, seed: int, width: int = WIDTH, height: int = HEIGHT) -> Path:
    """Write the demo slide of this class and seed (an Aperio SVS)."""
    return synthetic.write_svs(
        path, width=width, height=height, pattern="a", seed=seed, lesions=lesion_count(label, seed)
    )


def fit(
    bags: Sequence[torch.Tensor],
    labels: Sequence[int],
    *,
    seed: int,
    epochs: int,
    lr: float = 2e-4,
    weight_decay: float = 1e-5,
    bag_weight: float = 0.7,
    k_sample: int = 8,
) -> clam.CLAM_SB:
    """CLAM-SB trained on the bags, one slide a step, in an order drawn from
    `seed`: bag cross-entropy weighted `bag_weight`, the rest CLAM's
    instance loss (the true class's instance classifier tells the `k_sample`
    most attended patches from the least attended). Public CLAM's defaults."""
    torch.manual_seed(seed)
    model = clam.build_model(MODEL_KIND, MODEL_SIZE, len(CLASS_NAMES), k_sample=k_sample)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    order = torch.Generator().manual_seed(seed)
    # The instance loss classifies the patch embeddings the attention saw:
    # the attention network's second output, caught on the way.
    embedded: list[torch.Tensor] = []
    hook = model.attention_net.register_forward_hook(lambda _module, _input, output: embedded.append(output[1]))
    model.train()
    try:
        for epoch in range(epochs):
            total = 0.0
            for i in torch.randperm(len(bags), generator=order).tolist():
                embedded.clear()
                out = model(bags[i])
                target = torch.tensor([labels[i]])
                loss = F.cross_entropy(out["logits"], target)
                if bag_weight < 1:
                    instance = _instance_loss(model, embedded[0], out["attention"], labels[i])
                    loss = bag_weight * loss + (1 - bag_weight) * instance
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item()
            logger.info("epoch %d/%d: mean loss %.4f", epoch + 1, epochs, total / len(bags))
    finally:
        hook.remove()
    return model.eval()


def _instance_loss(model: clam.CLAM_SB, h: torch.Tensor, attention: torch.Tensor, label: int) -> torch.Tensor:
    k = min(model.k_sample, len(h) // 2)
    if not k:
        return torch.zeros(())
    top = torch.topk(attention, k).indices
    bottom = torch.topk(-attention, k).indices
    logits = model.instance_classifiers[label](torch.cat([h[top], h[bottom]]))
    targets = torch.cat([torch.ones(k, dtype=torch.long), torch.zeros(k, dtype=torch.long)])
    return F.cross_entropy(logits, targets)


def train(
    out_dir: str | Path,
    *,
    slides_per_class: int = 16,
    seed: int = 0,
    epochs: int = 20,
    held_out: float = 1 / 3,
    width: int = WIDTH,
    height: int = HEIGHT,
    keep_slides: bool = False,
) -> TrainResult:
    """Write `slides_per_class` synthetic slides of each class, extract
    their features once, train CLAM-SB on all but the last `held_out`
    share of each class, score it on those, and write the checkpoint and
    its card into `out_dir`. The same arguments give the same checkpoint.
    The slides are kept under `out_dir/slides` with `keep_slides`."""
    started = time.perf_counter()
    n_held = max(1, round(slides_per_class * held_out))
    if slides_per_class - n_held < 1:
        raise ValueError("each class needs at least one training slide and one held-out slide")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Classes alternate, so the last 2 * n_held slides are each class's last n_held.
    specs = [
        (index, seed * 10_000 + 2 * n + index) for n in range(slides_per_class) for index in range(len(CLASS_NAMES))
    ]
    with tempfile.TemporaryDirectory(prefix="train-demo-") as scratch:
        slides_dir = out_dir / "slides" if keep_slides else Path(scratch)
        bags = _bags(slides_dir, specs, width=width, height=height)
    labels = [index for index, _seed in specs]
    split = len(specs) - 2 * n_held
    model = fit(bags[:split], labels[:split], seed=seed, epochs=epochs)
    right = [p == t for p, t in zip(_predict(model, bags[split:]), labels[split:], strict=True)]
    per_class = {name: sum(right[index::2]) / n_held for index, name in enumerate(CLASS_NAMES)}
    accuracy = sum(right) / len(right)

    checkpoint = out_dir / CHECKPOINT_NAME
    torch.save(model.state_dict(), checkpoint)
    card = out_dir / CARD_NAME
    card_data = {
        "checkpoint": CHECKPOINT_NAME,
        "class_names": list(CLASS_NAMES),
        "model_kind": MODEL_KIND,
        "model_size": MODEL_SIZE,
        "extractor": EXTRACTOR,
        "patch_size": PATCH_SIZE,
        "level": 0,
        "held_out_accuracy": accuracy,
        "held_out_per_class_accuracy": per_class,
        "slides": len(specs),
        "train_slides": split,
        "held_out_slides": len(right),
        "slide_size": [width, height],
        "epochs": epochs,
        "seed": seed,
        "note": "demo on synthetic slides with a random extractor: not a pathology model",
    }
    card.write_text(json.dumps(card_data, indent=2) + "\n")
    return TrainResult(
        checkpoint=checkpoint,
        card=card,
        held_out_accuracy=accuracy,
        per_class_accuracy=per_class,
        train_slides=split,
        held_out_slides=len(right),
        seconds=round(time.perf_counter() - started, 1),
    )


def _bags(folder: Path, specs: Sequence[tuple[int, int]], *, width: int, height: int) -> list[torch.Tensor]:
    """Each (class index, seed) slide written into `folder` and its features extracted."""
    folder.mkdir(exist_ok=True)
    # The worker's extractor: the pipeline's, seeded 0 whatever the training seed.
    demo = Pipeline(PipelineConfig(patch_size=PATCH_SIZE, extractor=EXTRACTOR), allow_untrained=True)
    bags = []
    for index, seed in specs:
        label = CLASS_NAMES[index]
        path = write_slide(folder / f"{label}-{seed}.svs", label=label, seed=seed, width=width, height=height)
        bags.append(demo.slide_features(path))
        logger.info("%s: %d patches", path.name, len(bags[-1]))
    return bags


def _predict(model: clam.CLAM_SB, bags: Sequence[torch.Tensor]) -> list[int]:
    with torch.inference_mode():
        return [int(model(bag)["probabilities"].argmax()) for bag in bags]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inference_worker.train_demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("demo-model"), help="folder for the checkpoint and its card")
    parser.add_argument("--slides", type=int, default=16, help="slides per class (default 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--held-out", type=float, default=1 / 3, help="share of each class held out (default 1/3)")
    parser.add_argument("--width", type=int, default=WIDTH, help=f"slide width in pixels (default {WIDTH})")
    parser.add_argument("--height", type=int, default=HEIGHT, help=f"slide height in pixels (default {HEIGHT})")
    parser.add_argument("--keep-slides", action="store_true", help="keep the slides under OUT/slides")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = train(
        args.out,
        slides_per_class=args.slides,
        seed=args.seed,
        epochs=args.epochs,
        held_out=args.held_out,
        width=args.width,
        height=args.height,
        keep_slides=args.keep_slides,
    )
    per_class = ", ".join(f"{name} {value:.0%}" for name, value in result.per_class_accuracy.items())
    print(
        f"held-out accuracy {result.held_out_accuracy:.0%} ({per_class}) on {result.held_out_slides} slides,"
        f" trained on {result.train_slides}, in {result.seconds:.0f} s"
    )
    print(f"card: {result.card}")
    print("worker environment:")
    for name, value in result.worker_env().items():
        print(f"{name}={value}")


if __name__ == "__main__":
    main()
