"""How often predictions abstain ("unknown") at a few MODEL_MIN_CONFIDENCE
thresholds, in domain and out of domain.

    .venv/bin/python -m bench.model_abstention [--examples 1000 5000] [--json PATH]   # about 1 minute

In domain: modeltrainer.synthetic examples (six labels of operations and
experiment logs, 5 % label noise), split by the trainer's own held-out rule
(classifier.split_held_out, MODEL_TEST_SHARE), the model trained on the rest
with the trainer's defaults (logistic regression; morphemes and character
n-grams). For each threshold: coverage (share of held-out texts answered),
precision on the answered texts (share whose label is right) and, for
reference, the accuracy with no abstention. Out of domain:
bench/data/out_of_domain.txt (greetings, food, weather, travel...; Korean
and English): the share that abstains. The answer for each text comes from
the API's own code (analysis.prediction_view), so what is measured is what
POST /api/model/predict answers.
"""

import argparse
import json
import platform
import time
from importlib import metadata
from pathlib import Path

from bench.harness import print_table
from bench.modeltrainer_steps import _django

THRESHOLDS = (0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7)
OUT_OF_DOMAIN = Path(__file__).parent / "data" / "out_of_domain.txt"
CONFIGS = (("logistic_regression", "morpheme"), ("logistic_regression", "char"))


def out_of_domain_texts() -> list[str]:
    lines = OUT_OF_DOMAIN.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _is_korean(value: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in value)


def measure(*, n: int, algorithm: str, tokenizer: str, ood: list[str], seed: int) -> dict:
    from django.conf import settings

    from modeltrainer import classifier, synthetic
    from modeltrainer.services.analysis import prediction_view

    pairs = list(dict.fromkeys(synthetic.examples(n, seed=seed)))
    texts, labels = [t for t, _ in pairs], [label for _, label in pairs]
    started = time.perf_counter()
    result = classifier.train(
        texts,
        labels,
        algorithm=algorithm,
        tokenizer=tokenizer,
        params=dict(classifier.DEFAULT_PARAMS[algorithm]),
        test_share=settings.MODEL_TEST_SHARE,
    )
    train_s = time.perf_counter() - started
    _train_idx, test_idx = classifier.split_held_out(labels, share=settings.MODEL_TEST_SHARE)
    held_texts = [texts[i] for i in test_idx]
    held_labels = [labels[i] for i in test_idx]
    held = classifier.predict(result.pipeline, held_texts)
    outside = classifier.predict(result.pipeline, ood)
    rows = []
    for threshold in THRESHOLDS:
        answers = [prediction_view(prediction=p, version=0, min_confidence=threshold) for p in held]
        answered = [(a, truth) for a, truth in zip(answers, held_labels, strict=True) if not a["abstained"]]
        right = sum(a["prediction"] == truth for a, truth in answered)
        ood_answers = [prediction_view(prediction=p, version=0, min_confidence=threshold) for p in outside]
        ood_abstained = [a["abstained"] for a in ood_answers]
        ko = [flag for flag, value in zip(ood_abstained, ood, strict=True) if _is_korean(value)]
        en = [flag for flag, value in zip(ood_abstained, ood, strict=True) if not _is_korean(value)]
        rows.append(
            {
                "threshold": threshold,
                "coverage": round(len(answered) / len(held), 4),
                "precision": round(right / len(answered), 4) if answered else None,
                "ood_abstained": round(sum(ood_abstained) / len(ood), 4),
                "ood_abstained_ko": round(sum(ko) / len(ko), 4),
                "ood_abstained_en": round(sum(en) / len(en), 4),
            }
        )
    confidences = sorted(p.confidence for p in outside)
    return {
        "examples": len(pairs),
        "held_out": len(held),
        "algorithm": algorithm,
        "tokenizer": tokenizer,
        "labels": len(result.labels),
        "macro_f1": result.metrics["macro_f1"],
        "accuracy": result.metrics["accuracy"],
        "train_s": round(train_s, 2),
        "ood_confidence_median": confidences[len(confidences) // 2],
        "ood_confidence_max": confidences[-1],
        "ood_most_confident": sorted(
            (
                {"text": value, "label": p.label, "confidence": p.confidence}
                for value, p in zip(ood, outside, strict=True)
            ),
            key=lambda row: -row["confidence"],
        )[:5],
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    _django()
    from django.conf import settings

    ood = out_of_domain_texts()
    korean = sum(_is_korean(value) for value in ood)
    print(f"out-of-domain texts: {len(ood)} ({korean} Korean, {len(ood) - korean} English)")
    print(f"MODEL_MIN_CONFIDENCE now: {settings.MODEL_MIN_CONFIDENCE}")
    results = []
    for n in args.examples:
        for algorithm, tokenizer in CONFIGS:
            run = measure(n=n, algorithm=algorithm, tokenizer=tokenizer, ood=ood, seed=args.seed)
            results.append(run)
            print(
                f"\n{run['examples']} examples ({run['held_out']} held out), {algorithm} + {tokenizer}: "
                f"macro F1 {run['macro_f1']}, accuracy {run['accuracy']}; out-of-domain confidence median "
                f"{run['ood_confidence_median']}, max {run['ood_confidence_max']}"
            )
            print_table(
                [
                    {
                        "threshold": f"{row['threshold']:.2f}",
                        "coverage": f"{row['coverage']:.1%}",
                        "precision": f"{row['precision']:.1%}" if row["precision"] is not None else "-",
                        "OOD abstained": f"{row['ood_abstained']:.1%}",
                        "OOD ko": f"{row['ood_abstained_ko']:.1%}",
                        "OOD en": f"{row['ood_abstained_en']:.1%}",
                    }
                    for row in run["rows"]
                ]
            )
            print("  most confident out-of-domain texts:")
            for row in run["ood_most_confident"]:
                print(f"    {row['confidence']:.3f} {row['label']:<12} {row['text']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        facts = {
            "python": platform.python_version(),
            "scikit-learn": metadata.version("scikit-learn"),
            "kiwipiepy": metadata.version("kiwipiepy"),
            "out_of_domain": len(ood),
        }
        args.json.write_text(json.dumps({"facts": facts, "runs": results}, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
