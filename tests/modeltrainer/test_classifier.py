"""The scikit-learn part on its own: split, metrics, training, prediction
and the per-term explanation."""

import numpy as np
import pytest

from modeltrainer import classifier
from modeltrainer.choices import Algorithm, Tokenizer

from .conftest import SEED_ROWS

TEXTS = [text for texts in SEED_ROWS.values() for text in texts]
LABELS = [label for label, texts in SEED_ROWS.items() for _ in texts]


def test_split_holds_out_a_share_of_each_label_and_is_deterministic():
    labels = ["a"] * 10 + ["b"] * 5 + ["c"] * 2 + ["d"]
    train, test = classifier.split_held_out(labels, share=0.2)

    assert sorted(train + test) == list(range(len(labels)))
    held = [labels[i] for i in test]
    assert held.count("a") == 2 and held.count("b") == 1 and held.count("c") == 1
    assert "d" not in held  # a single example can only be learned, not tested
    assert classifier.split_held_out(labels, share=0.2) == (train, test)


def test_evaluate_reports_per_label_scores_and_the_confusion_matrix():
    metrics = classifier.evaluate(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b", "c"])

    assert metrics["accuracy"] == 0.75
    assert metrics["per_label"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert metrics["per_label"]["b"]["precision"] == 0.6667
    assert metrics["confusion_matrix"] == {"labels": ["a", "b", "c"], "matrix": [[1, 1, 0], [0, 2, 0], [0, 0, 0]]}
    # "c" has no held-out example: it does not drag the macro average down.
    assert metrics["macro_f1"] == round((0.6667 + 0.8) / 2, 4)


@pytest.mark.parametrize("tokenizer", Tokenizer.values)
@pytest.mark.parametrize("algorithm", Algorithm.values)
def test_train_learns_the_labels(algorithm, tokenizer):
    steps = []
    result = classifier.train(
        TEXTS,
        LABELS,
        algorithm=algorithm,
        tokenizer=tokenizer,
        params=classifier.DEFAULT_PARAMS[algorithm],
        test_share=0.25,
        progress=lambda percent, stage: steps.append(stage),
    )

    assert result.labels == sorted(SEED_ROWS)
    assert result.train_count + result.test_count == len(TEXTS)
    assert result.test_count == 6  # two of each label's eight
    assert 0 <= result.metrics["macro_f1"] <= 1
    assert steps == ["vectorizing", "fitting", "evaluating"]
    (prediction,) = classifier.predict(result.pipeline, ["결제 요청이 예외로 실패했습니다"])
    assert prediction.label == "error"
    assert sum(prediction.probabilities.values()) == pytest.approx(1, abs=1e-3)
    assert prediction.confidence == max(prediction.probabilities.values())


def test_train_needs_two_labels():
    with pytest.raises(ValueError, match="two labels"):
        classifier.train(
            ["a", "b"],
            ["x", "x"],
            algorithm="logistic_regression",
            tokenizer="char",
            params={"C": 1, "max_iter": 50},
            test_share=0.2,
        )


def test_morpheme_tokens_find_the_stem_under_korean_endings():
    assert "실패" in classifier.morpheme_tokens("로그인이 실패했습니다")
    assert "error" in classifier.morpheme_tokens("Connection ERROR")


@pytest.mark.parametrize("algorithm", Algorithm.values)
def test_explain_names_the_terms_that_decided(algorithm):
    result = classifier.train(
        TEXTS,
        LABELS,
        algorithm=algorithm,
        tokenizer="morpheme",
        params=classifier.DEFAULT_PARAMS[algorithm],
        test_share=0.2,
    )
    weights = classifier.class_weights(result.pipeline)
    names = result.pipeline.named_steps["vectorizer"].get_feature_names_out()

    explained = classifier.explain(result.pipeline, weights, names, "API 키 유출 의심으로 접근을 차단했습니다", top=3)

    assert explained["prediction"].label == "security"
    terms = [item["term"] for item in explained["supporting"]]
    assert len(terms) <= 3 and {"유출", "차단", "접근", "키"} & set(terms)
    weights_found = [item["weight"] for item in explained["supporting"]]
    assert weights_found == sorted(weights_found, reverse=True) and all(w > 0 for w in weights_found)


def test_binary_weights_score_the_second_class_against_the_first():
    result = classifier.train(
        TEXTS[:16],
        LABELS[:16],
        algorithm="logistic_regression",
        tokenizer="char",
        params=classifier.DEFAULT_PARAMS["logistic_regression"],
        test_share=0.2,
    )
    weights = classifier.class_weights(result.pipeline)
    model = result.pipeline.named_steps["model"]

    assert weights.shape == (2, model.coef_.shape[1])
    assert np.allclose(weights[1] - weights[0], model.coef_[0])


@pytest.mark.parametrize("tokenizer", Tokenizer.values)
def test_training_is_deterministic(tokenizer):
    def fit():
        result = classifier.train(
            TEXTS,
            LABELS,
            algorithm="logistic_regression",
            tokenizer=tokenizer,
            params=classifier.DEFAULT_PARAMS["logistic_regression"],
            test_share=0.2,
        )
        return result.pipeline.named_steps["model"].coef_

    assert np.array_equal(fit(), fit())
