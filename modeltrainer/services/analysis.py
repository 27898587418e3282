"""Predictions and single-log analysis with the active model, abstaining
("unknown") when the model is not confident enough."""

from django.conf import settings

from ..classifier import Prediction
from ..predictor import active_model

# Second-best probability this close to the best: the comment says the
# decision is uncertain.
CLOSE_MARGIN = 0.15
# The answer of a prediction the model abstains from.
UNKNOWN = "unknown"


def prediction_view(*, prediction: Prediction, version: int, min_confidence: float | None = None) -> dict:
    """One prediction as the API answers it. Below MODEL_MIN_CONFIDENCE the
    answer is "unknown" (`abstained`: true), with the scores and the most
    probable `label` still given: a text about nothing the model learned
    ("hello world") spreads its probability over the labels instead of
    getting a confident-looking label, and a client can tell the two apart
    (and still read what the model leaned to)."""
    threshold = settings.MODEL_MIN_CONFIDENCE if min_confidence is None else min_confidence
    abstained = prediction.confidence < threshold
    return {
        "prediction": UNKNOWN if abstained else prediction.label,
        "label": prediction.label,
        "confidence": prediction.confidence,
        "abstained": abstained,
        "min_confidence": threshold,
        "probabilities": prediction.probabilities,
        "version": version,
    }


def texts_predict(*, texts: list[str]) -> tuple[int, list[dict]]:
    """(version number, predictions as prediction_view answers them) with
    the model this process serves."""
    model = active_model.get()
    return model.number, [prediction_view(prediction=p, version=model.number) for p in model.predict(texts)]


def _level(confidence: float, lang: str) -> str:
    if confidence >= 0.8:
        return "높음" if lang == "ko" else "high"
    if confidence >= 0.5:
        return "보통" if lang == "ko" else "moderate"
    return "낮음" if lang == "ko" else "low"


def analysis_comment(*, label: str, confidence: float, probabilities: dict, terms: list[str], lang: str) -> str:
    """A short comment on one prediction, in Korean or English."""
    ranked = sorted(probabilities.items(), key=lambda item: -item[1])
    runner_up = ranked[1] if len(ranked) > 1 else None
    close = runner_up is not None and confidence - runner_up[1] < CLOSE_MARGIN
    quoted = ", ".join(f"'{term}'" for term in terms[:3])
    if lang == "en":
        comment = f"This log reads as '{label}' ({confidence:.0%} confidence, {_level(confidence, lang)})."
        if quoted:
            comment += f" The terms that weighed most: {quoted}."
        if close:
            comment += f" It could also be '{runner_up[0]}' ({runner_up[1]:.0%}); a person should check it."
        return comment
    comment = f"이 로그는 '{label}'(으)로 분류됩니다 (신뢰도 {confidence:.0%}, {_level(confidence, lang)})."
    if quoted:
        comment += f" 판단에 가장 크게 작용한 표현: {quoted}."
    if close:
        comment += f" '{runner_up[0]}'일 가능성도 {runner_up[1]:.0%}로 있어 사람의 확인이 필요합니다."
    return comment


def abstention_comment(*, label: str, confidence: float, threshold: float, lang: str) -> str:
    """The comment on a log the model abstains from."""
    if lang == "en":
        return (
            f"The model is not confident enough to classify this log ({confidence:.0%} < {threshold:.0%}): "
            f"it is probably about something it was not trained on. The closest label is '{label}'."
        )
    return (
        f"모델이 이 로그를 분류할 만큼 확신하지 못합니다 (신뢰도 {confidence:.0%} < {threshold:.0%}). "
        f"학습하지 않은 내용일 가능성이 큽니다. 가장 가까운 레이블은 '{label}'입니다."
    )


def log_analyze(*, text: str, lang: str = "ko", top: int = 8) -> dict:
    """Prediction ("unknown" below MODEL_MIN_CONFIDENCE, as for predict),
    confidence, the terms that pushed the decision most (from the linear
    model's weights, towards the most probable label also when abstaining)
    and a comment."""
    model = active_model.get()
    explained = model.explain(text, top=top)
    prediction = explained["prediction"]
    supporting = explained["supporting"]
    body = prediction_view(prediction=prediction, version=model.number)
    if body["abstained"]:
        comment = abstention_comment(
            label=prediction.label, confidence=prediction.confidence, threshold=body["min_confidence"], lang=lang
        )
    else:
        comment = analysis_comment(
            label=prediction.label,
            confidence=prediction.confidence,
            probabilities=prediction.probabilities,
            terms=[item["term"] for item in supporting],
            lang=lang,
        )
    return {**body, "terms": supporting, "opposing_terms": explained["opposing"], "comment": comment}
