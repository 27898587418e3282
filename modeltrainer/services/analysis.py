"""Predictions and single-log analysis with the active model."""

from ..predictor import active_model

# Second-best probability this close to the best: the comment says the
# decision is uncertain.
CLOSE_MARGIN = 0.15


def texts_predict(*, texts: list[str]) -> tuple[int, list]:
    """(version number, predictions) with the model this process serves."""
    model = active_model.get()
    return model.number, model.predict(texts)


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


def log_analyze(*, text: str, lang: str = "ko", top: int = 8) -> dict:
    """Prediction, confidence, the terms that pushed the decision most
    (from the linear model's weights) and a comment."""
    model = active_model.get()
    explained = model.explain(text, top=top)
    prediction = explained["prediction"]
    supporting = explained["supporting"]
    return {
        "prediction": prediction.label,
        "confidence": prediction.confidence,
        "probabilities": prediction.probabilities,
        "terms": supporting,
        "opposing_terms": explained["opposing"],
        "comment": analysis_comment(
            label=prediction.label,
            confidence=prediction.confidence,
            probabilities=prediction.probabilities,
            terms=[item["term"] for item in supporting],
            lang=lang,
        ),
        "version": model.number,
    }
