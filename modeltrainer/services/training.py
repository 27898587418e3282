"""Training a version: queue it (one at a time), run it in a task, keep the
result only when it succeeded."""

import datetime as dt
import hashlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Count, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from aiplatform.db import is_write_race
from aiplatform.errors import Conflict, InvalidInput

from .. import artifacts, classifier
from ..choices import ActivationRequest, ActivationResult, Algorithm, Tokenizer, Trigger, VersionStatus
from ..models import ModelVersion, TrainingExample
from .versions import activation_request_parse, model_version_decide_activation

logger = logging.getLogger(__name__)

FETCH_BATCH = 5000


def training_params(*, algorithm: str, params: dict | None) -> dict:
    """The algorithm's defaults overlaid with the caller's parameters, each
    checked against its range (400 naming `params.<name>`)."""
    merged = dict(classifier.DEFAULT_PARAMS[algorithm])
    for name, value in (params or {}).items():
        if name not in classifier.PARAM_RANGES:
            raise InvalidInput(
                _("Unknown parameter; known: %(names)s.") % {"names": ", ".join(sorted(classifier.PARAM_RANGES))},
                field=f"params.{name}",
            )
        low, high = classifier.PARAM_RANGES[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise InvalidInput(
                _("Must be a number from %(low)s to %(high)s.") % {"low": low, "high": high}, field=f"params.{name}"
            )
        merged[name] = value
    return merged


def examples_ready_check() -> Counter:
    """Example counts per label; a Conflict when they cannot train a model."""
    counts = Counter(dict(TrainingExample.objects.values_list("label").annotate(n=Count("id")).order_by()))
    total = sum(counts.values())
    learnable = [label for label, n in counts.items() if n >= 2]
    if total < settings.MODEL_MIN_EXAMPLES or len(learnable) < 2:
        raise Conflict(
            _(
                "Not enough training data: %(total)d examples in %(labels)d labels; training needs at least "
                "%(min)d examples and two labels with two examples each. Upload examples first."
            )
            % {"total": total, "labels": len(counts), "min": settings.MODEL_MIN_EXAMPLES},
            code="not_enough_data",
        )
    return counts


def _stale_fail(version: ModelVersion) -> bool:
    """Give up a training whose worker stopped reporting (it died): it no
    longer blocks new ones."""
    last = version.heartbeat_at or version.created_at
    if version.status != VersionStatus.TRAINING or timezone.now() - last < dt.timedelta(
        seconds=settings.MODEL_TRAINING_STALE_SECONDS
    ):
        return False
    return bool(
        ModelVersion.objects.filter(
            pk=version.pk, status=VersionStatus.TRAINING, heartbeat_at=version.heartbeat_at
        ).update(
            status=VersionStatus.FAILED,
            in_flight=None,
            finished_at=timezone.now(),
            error=_("The training stopped reporting for %(s)d s (its worker died) and was given up.")
            % {"s": settings.MODEL_TRAINING_STALE_SECONDS},
            activation={
                "requested": version.activation_requested,
                "result": ActivationResult.TRAINING_FAILED,
                "code": "training_failed",
            },
        )
    )


def model_version_train(
    *,
    triggered_by=None,
    trigger: str = Trigger.API,
    algorithm: str | None = None,
    tokenizer: str | None = None,
    params: dict | None = None,
    activate: bool | str = ActivationRequest.IF_BETTER,
    enqueue: bool = True,
) -> tuple[ModelVersion, bool]:
    """Queue a training and return (version, created). While one is queued or
    training, that one is returned instead of starting another. With
    enqueue=False the caller runs it (model_version_run) itself.

    `activate` says what happens when it is ready (an ActivationRequest, or
    true for "if_better", false for "never"): by default it becomes active
    only if it is not worse than the active version (see
    model_version_decide_activation), and the first one always does."""
    try:
        requested = activation_request_parse(activate)
    except ValueError:
        raise InvalidInput(
            _("One of: true, false, %(v)s.") % {"v": ", ".join(ActivationRequest.values)}, field="activate"
        ) from None
    algorithm = algorithm or Algorithm.LOGISTIC_REGRESSION
    tokenizer = tokenizer or Tokenizer.MORPHEME
    if algorithm not in Algorithm.values:
        raise InvalidInput(_("One of: %(v)s.") % {"v": ", ".join(Algorithm.values)}, field="algorithm")
    if tokenizer not in Tokenizer.values:
        raise InvalidInput(_("One of: %(v)s.") % {"v": ", ".join(Tokenizer.values)}, field="tokenizer")
    merged = training_params(algorithm=algorithm, params=params)
    running = ModelVersion.objects.filter(in_flight=True).first()
    if running is not None and not _stale_fail(running):
        return running, False
    examples_ready_check()
    for _attempt in range(5):
        try:
            with transaction.atomic():
                number = (ModelVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1
                version = ModelVersion.objects.create(
                    number=number,
                    in_flight=True,
                    algorithm=algorithm,
                    tokenizer=tokenizer,
                    params=merged,
                    activation_requested=requested,
                    activation={"requested": requested, "result": ActivationResult.PENDING, "code": "pending"},
                    trigger=trigger,
                    triggered_by=triggered_by if getattr(triggered_by, "pk", None) else None,
                    stage="queued",
                )
                if enqueue:
                    transaction.on_commit(lambda pk=version.pk: _enqueue(pk))
            return version, True
        except DatabaseError as exc:
            if not is_write_race(exc):
                raise
            # Another request queued one first (in_flight is unique), or took
            # the number, or InnoDB made this insert the victim of a deadlock.
            running = ModelVersion.objects.filter(in_flight=True).first()
            if running is not None:
                return running, False
    raise Conflict(_("Could not queue a training; try again."), code="busy")


def _enqueue(version_id: int) -> None:
    from ..tasks import train_model_version

    train_model_version.enqueue(version_id)


def _examples_snapshot(up_to_id: int) -> tuple[list[str], list[str], str, int | None]:
    """Texts, labels, a fingerprint of exactly these rows (ids, labels and
    texts, in id order) and the smallest id."""
    texts, labels = [], []
    digest = hashlib.sha256()
    first_id = None
    rows = (
        TrainingExample.objects.filter(pk__lte=up_to_id)
        .order_by("pk")
        .values_list("pk", "text", "label", "text_sha256")
    )
    for pk, value, label, text_sha256 in rows.iterator(chunk_size=FETCH_BATCH):
        first_id = pk if first_id is None else first_id
        texts.append(value)
        labels.append(label)
        digest.update(f"{pk}\t{label}\t{text_sha256}\n".encode())
    return texts, labels, digest.hexdigest(), first_id


def _reporter(version_id: int, progress: Callable[[int, str], None] | None):
    def report(percent: int, stage: str) -> None:
        ModelVersion.objects.filter(pk=version_id, status=VersionStatus.TRAINING).update(
            progress=percent, stage=stage, heartbeat_at=timezone.now()
        )
        if progress is not None:
            progress(percent, stage)

    return report


def model_version_run(*, version_id: int, progress: Callable[[int, str], None] | None = None) -> ModelVersion:
    """Train a queued version (the task's body). Claimed by a conditional
    update, so a task delivered twice trains once. Any failure marks the
    version failed with the error and leaves the active model alone."""
    now = timezone.now()
    claimed = ModelVersion.objects.filter(pk=version_id, status=VersionStatus.QUEUED).update(
        status=VersionStatus.TRAINING, started_at=now, heartbeat_at=now, progress=5, stage="loading examples"
    )
    version = ModelVersion.objects.get(pk=version_id)
    if not claimed:
        return version
    started = time.perf_counter()
    report = _reporter(version_id, progress)
    report(5, "loading examples")
    try:
        up_to_id = TrainingExample.objects.aggregate(m=Max("pk"))["m"] or 0
        texts, labels, fingerprint, first_id = _examples_snapshot(up_to_id)
        result = classifier.train(
            texts,
            labels,
            algorithm=version.algorithm,
            tokenizer=version.tokenizer,
            params=version.params,
            test_share=settings.MODEL_TEST_SHARE,
            progress=report,
        )
        report(90, "saving")
        stored = artifacts.artifact_write(
            {
                "pipeline": result.pipeline,
                "version": version.number,
                "labels": result.labels,
                "algorithm": version.algorithm,
                "tokenizer": version.tokenizer,
            },
            name=f"model-v{version.number:04d}-{uuid.uuid4().hex[:12]}.joblib",
        )
    except Exception as exc:  # any failure of the training is recorded on the version
        logger.exception("training of model version %s failed", version.number)
        ModelVersion.objects.filter(pk=version_id).update(
            status=VersionStatus.FAILED,
            in_flight=None,
            error=f"{type(exc).__name__}: {exc}"[:4000],
            finished_at=timezone.now(),
            duration_s=round(time.perf_counter() - started, 3),
            stage="failed",
            activation={
                "requested": version.activation_requested,
                "result": ActivationResult.TRAINING_FAILED,
                "code": "training_failed",
            },
        )
        version.refresh_from_db()
        return version
    metrics = {**result.metrics, "notes": result.notes} if result.notes else result.metrics
    ModelVersion.objects.filter(pk=version_id).update(
        status=VersionStatus.READY,
        in_flight=None,
        metrics=metrics,
        labels=result.labels,
        example_count=len(texts),
        train_count=result.train_count,
        test_count=result.test_count,
        data_fingerprint=fingerprint,
        example_id_min=first_id,
        example_id_max=up_to_id or None,
        artifact=stored.name,
        artifact_sha256=stored.sha256,
        artifact_size=stored.size,
        finished_at=timezone.now(),
        duration_s=round(time.perf_counter() - started, 3),
        progress=100,
        stage="ready",
    )
    version.refresh_from_db()
    if progress is not None:
        progress(100, "ready")
    version = model_version_decide_activation(version=version)
    logger.info(
        "model version %s ready (macro F1 %s): %s",
        version.number,
        metrics.get("macro_f1"),
        version.activation.get("result"),
    )
    version.refresh_from_db()
    return version
