"""The active model of this server process, swapped without a restart.

Every process keeps the model it serves in memory and asks the database at
most every MODEL_RELOAD_SECONDS which version is active. When that changes,
one thread loads the new file (checksum first) while the others go on
predicting with the old model; the reference is then replaced in one step,
so no request fails during a switch. (Loading holds the interpreter lock
for its 50-400 ms, so requests of that process are slower meanwhile.) A file that fails its
checksum is not loaded: the process keeps serving what it has, logs the
error and sends `artifact_rejected` (monitoring raises an alert on it).
"""

import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property

import django.dispatch
import numpy as np
from django.conf import settings

from aiplatform.errors import UpstreamUnavailable

from . import artifacts, classifier
from .models import ModelVersion

logger = logging.getLogger(__name__)

REJECTED_RETRY_SECONDS = 60.0

# Sent with version (a ModelVersion) and error (the ArtifactRejected).
artifact_rejected = django.dispatch.Signal()


class NoActiveModel(UpstreamUnavailable):
    code = "no_model"


@dataclass
class LoadedModel:
    version_id: int
    number: int
    sha256: str
    pipeline: object
    loaded_at: float = field(default_factory=time.time)

    @cached_property
    def weights(self) -> np.ndarray:
        return classifier.class_weights(self.pipeline)

    @cached_property
    def feature_names(self) -> np.ndarray:
        return self.pipeline.named_steps["vectorizer"].get_feature_names_out()

    def predict(self, texts: list[str]) -> list[classifier.Prediction]:
        return classifier.predict(self.pipeline, texts)

    def explain(self, value: str, *, top: int = 8) -> dict:
        return classifier.explain(self.pipeline, self.weights, self.feature_names, value, top=top)


class ActiveModel:
    def __init__(self):
        self._model: LoadedModel | None = None
        self._checked_at = float("-inf")
        self._load_lock = threading.Lock()
        # ((version id, sha256), error, when) of a file that failed its check:
        # it is read again only after REJECTED_RETRY_SECONDS (a restored file
        # is then picked up), not on every request.
        self._rejected: tuple[tuple[int, str], artifacts.ArtifactRejected, float] | None = None
        self.last_error: str = ""

    def get(self) -> LoadedModel:
        model = self._model
        if model is not None and time.monotonic() - self._checked_at < settings.MODEL_RELOAD_SECONDS:
            return model
        if model is not None:
            # Someone else is checking or loading: serve what we have.
            if not self._load_lock.acquire(blocking=False):
                return model
        else:
            self._load_lock.acquire()
        try:
            return self._refresh()
        finally:
            self._load_lock.release()

    def _refresh(self) -> LoadedModel:
        model = self._model
        if model is not None and time.monotonic() - self._checked_at < settings.MODEL_RELOAD_SECONDS:
            return model
        row = ModelVersion.objects.filter(active=True).only("id", "number", "artifact", "artifact_sha256").first()
        self._checked_at = time.monotonic()
        if row is None:
            self._model = None
            raise NoActiveModel("No model has been trained and activated yet: POST /api/model/train first.")
        if model is not None and model.version_id == row.pk and model.sha256 == row.artifact_sha256:
            return model
        rejected = self._rejected
        if (
            rejected is not None
            and rejected[0] == (row.pk, row.artifact_sha256)
            and time.monotonic() - rejected[2] < REJECTED_RETRY_SECONDS
        ):
            if model is not None:
                return model
            raise rejected[1]
        try:
            payload = artifacts.artifact_load(row.artifact, sha256=row.artifact_sha256)
        except artifacts.ArtifactRejected as exc:
            self.last_error = exc.message
            self._rejected = ((row.pk, row.artifact_sha256), exc, time.monotonic())
            logger.error("model version %s rejected: %s", row.number, exc.message)
            artifact_rejected.send(sender=ModelVersion, version=row, error=exc)
            if model is not None:
                return model
            raise
        self._model = LoadedModel(
            version_id=row.pk, number=row.number, sha256=row.artifact_sha256, pipeline=payload["pipeline"]
        )
        self.last_error = ""
        self._rejected = None
        logger.info("serving model version %s", row.number)
        return self._model

    @property
    def loaded(self) -> LoadedModel | None:
        return self._model

    def forget(self) -> None:
        """Drop the cached model (tests, and a process told to reload now)."""
        with self._load_lock:
            self._model = None
            self._rejected = None
            self._checked_at = float("-inf")


active_model = ActiveModel()
