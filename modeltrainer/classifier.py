"""The text classifier itself: scikit-learn, no Django.

A model is a Pipeline of a TF-IDF vectorizer and a linear classifier, so each
decision is a sum of per-term weights, which is what `explain` reads back.
"""

import random
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import Pipeline

from aiplatform import text

from .choices import Algorithm, Tokenizer

DEFAULT_PARAMS = {
    Algorithm.LOGISTIC_REGRESSION: {"C": 4.0, "max_iter": 300},
    Algorithm.COMPLEMENT_NB: {"alpha": 0.3},
}
# Parameters a caller may set, with their allowed range.
PARAM_RANGES = {
    "C": (1e-4, 1e4),
    "max_iter": (10, 5000),
    "alpha": (1e-6, 100.0),
    "min_df": (1, 100),
    "max_features": (100, 2_000_000),
}
SMALL_SET = 1000


def morpheme_tokens(value: str) -> list[str]:
    """Kiwi content morphemes and Latin words, plus adjacent pairs (bigrams
    are built by the vectorizer)."""
    return text.morpheme_tokens(value)


def build_pipeline(*, algorithm: str, tokenizer: str, params: dict) -> Pipeline:
    vectorizer_args = {"min_df": params.get("min_df", 2), "sublinear_tf": True}
    if params.get("max_features"):
        vectorizer_args["max_features"] = int(params["max_features"])
    if tokenizer == Tokenizer.MORPHEME:
        # A module-level function, so the fitted pipeline pickles by reference.
        vectorizer = TfidfVectorizer(
            tokenizer=morpheme_tokens, token_pattern=None, lowercase=False, ngram_range=(1, 2), **vectorizer_args
        )
    elif tokenizer == Tokenizer.CHAR:
        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), **vectorizer_args)
    else:
        raise ValueError(f"unknown tokenizer {tokenizer!r}")
    if algorithm == Algorithm.LOGISTIC_REGRESSION:
        # SAGA: on these sparse, L2-normalised TF-IDF rows it reaches the same
        # held-out scores as L-BFGS in a quarter of the time (bench/RESULTS.md).
        model = LogisticRegression(
            C=float(params["C"]), max_iter=int(params["max_iter"]), solver="saga", random_state=0
        )
    elif algorithm == Algorithm.COMPLEMENT_NB:
        model = ComplementNB(alpha=float(params["alpha"]))
    else:
        raise ValueError(f"unknown algorithm {algorithm!r}")
    return Pipeline([("vectorizer", vectorizer), ("model", model)])


def split_held_out(labels: Sequence[str], *, share: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Indices (train, test): `share` of each label's examples held out, at
    least one of any label with two or more, none of a label with one (it
    could then never be learned). Deterministic for a seed."""
    by_label = defaultdict(list)
    for index, label in enumerate(labels):
        by_label[label].append(index)
    rng = random.Random(seed)  # noqa: S311 (a reproducible split, not a secret)
    train, test = [], []
    for label in sorted(by_label):
        indices = by_label[label]
        rng.shuffle(indices)
        held = 0 if len(indices) < 2 else max(1, round(len(indices) * share))
        test.extend(indices[:held])
        train.extend(indices[held:])
    return sorted(train), sorted(test)


def evaluate(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict:
    """Accuracy, macro and weighted F1, per-label precision/recall/F1 and the
    confusion matrix (rows: true label, columns: predicted)."""
    labels = list(labels)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    present = [i for i, count in enumerate(support) if count]
    weights = support[present] / max(support[present].sum(), 1)
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        # Over the labels that have held-out examples: a label never tested
        # would count as a zero it did not earn.
        "macro_f1": round(float(np.mean(f1[present])), 4) if present else 0.0,
        "weighted_f1": round(float(np.dot(f1[present], weights)), 4) if present else 0.0,
        "per_label": {
            label: {
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "f1": round(float(f1[i]), 4),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": {
            "labels": labels,
            "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        },
    }


@dataclass
class TrainResult:
    pipeline: Pipeline
    metrics: dict
    labels: list[str]
    train_count: int
    test_count: int
    notes: list[str] = field(default_factory=list)


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    algorithm: str,
    tokenizer: str,
    params: dict,
    test_share: float,
    progress: Callable[[int, str], None] = lambda percent, stage: None,
) -> TrainResult:
    """Fit on the training split and measure on the held-out one. The model
    kept is the one measured (it is not refitted on all the data), so the
    metrics describe exactly the file that is served."""
    all_labels = sorted(set(labels))
    if len(all_labels) < 2:
        raise ValueError("at least two labels are needed")
    train_idx, test_idx = split_held_out(labels, share=test_share)
    if "min_df" not in params:
        # Terms seen once are mostly noise in a large set, but most of the
        # vocabulary of a small one.
        params = {**params, "min_df": 2 if len(train_idx) >= SMALL_SET else 1}
    pipeline = build_pipeline(algorithm=algorithm, tokenizer=tokenizer, params=params)
    progress(20, "vectorizing")
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        features = pipeline.named_steps["vectorizer"].fit_transform([texts[i] for i in train_idx])
        progress(50, "fitting")
        pipeline.named_steps["model"].fit(features, [labels[i] for i in train_idx])
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append("The solver stopped at max_iter before converging; a larger max_iter may score better.")
    progress(80, "evaluating")
    if test_idx:
        predicted = pipeline.predict([texts[i] for i in test_idx])
        metrics = evaluate([labels[i] for i in test_idx], list(predicted), all_labels)
    else:
        metrics = {}
        notes.append("No label had two examples, so nothing was held out and there are no metrics.")
    return TrainResult(
        pipeline, metrics, [str(label) for label in pipeline.classes_], len(train_idx), len(test_idx), notes
    )


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    probabilities: dict[str, float]


def predict(pipeline: Pipeline, texts: Sequence[str]) -> list[Prediction]:
    probabilities = pipeline.predict_proba(list(texts))
    classes = [str(label) for label in pipeline.classes_]
    out = []
    for row in probabilities:
        best = int(np.argmax(row))
        out.append(
            Prediction(
                label=classes[best],
                confidence=round(float(row[best]), 4),
                probabilities={label: round(float(p), 4) for label, p in zip(classes, row, strict=True)},
            )
        )
    return out


def class_weights(pipeline: Pipeline) -> np.ndarray:
    """A (classes x features) matrix W such that each class's score is the
    document vector times its row, up to a per-class constant."""
    model = pipeline.named_steps["model"]
    if isinstance(model, LogisticRegression):
        weights = model.coef_
        if weights.shape[0] == 1:
            # Binary: one row scores the second class against the first.
            weights = np.vstack([-weights[0] / 2, weights[0] / 2])
        return weights
    if isinstance(model, ComplementNB):
        return model.feature_log_prob_
    raise TypeError(f"cannot explain a {type(model).__name__}")


def explain(pipeline: Pipeline, weights: np.ndarray, feature_names: np.ndarray, value: str, *, top: int = 8) -> dict:
    """The terms of `value` that pushed the decision most towards the
    predicted label (`supporting`) and against it (`opposing`): each term's
    TF-IDF value times how much more its weight favours the predicted label
    than the average of the other labels."""
    (prediction,) = predict(pipeline, [value])
    classes = [str(label) for label in pipeline.classes_]
    row = pipeline.named_steps["vectorizer"].transform([value])
    columns, values = row.indices, row.data
    chosen = classes.index(prediction.label)
    others = [i for i in range(len(classes)) if i != chosen]
    margin = weights[chosen, columns] - weights[others][:, columns].mean(axis=0)
    pushes = values * margin
    order = np.argsort(-pushes)
    terms = [(str(feature_names[columns[i]]), round(float(pushes[i]), 4)) for i in order]
    return {
        "prediction": prediction,
        "supporting": [{"term": term, "weight": weight} for term, weight in terms if weight > 0][:top],
        "opposing": [{"term": term, "weight": weight} for term, weight in reversed(terms) if weight < 0][:top],
    }
