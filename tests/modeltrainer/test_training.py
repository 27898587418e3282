"""Training a version: queued once, run once, recorded with its metrics and
lineage, and never replacing the active model when it fails."""

import datetime as dt
import hashlib
import threading

import pytest
from django.db import connection
from django.utils import timezone

from aiplatform.errors import Conflict, InvalidInput
from modeltrainer import artifacts, classifier
from modeltrainer.choices import VersionStatus
from modeltrainer.models import ModelVersion, TrainingExample
from modeltrainer.services import examples, training, versions

from .conftest import SEED_ROWS


def test_a_training_records_metrics_lineage_and_a_checked_file(trained_version, model_storage, staff_user):
    version = trained_version(triggered_by=staff_user, tokenizer="char")

    assert version.status == VersionStatus.READY and version.active
    assert version.in_flight is None
    assert version.example_count == 24 and version.train_count + version.test_count == 24
    assert version.labels == sorted(SEED_ROWS)
    assert {"accuracy", "macro_f1", "per_label", "confusion_matrix"} <= set(version.metrics)
    ids = list(TrainingExample.objects.order_by("pk").values_list("pk", flat=True))
    assert (version.example_id_min, version.example_id_max) == (ids[0], ids[-1])
    path = model_storage / version.artifact
    assert hashlib.sha256(path.read_bytes()).hexdigest() == version.artifact_sha256
    assert version.artifact_size == path.stat().st_size
    assert version.triggered_by == staff_user
    assert version.started_at <= version.finished_at and version.duration_s > 0
    assert (version.progress, version.stage) == (100, "ready")


def test_the_fingerprint_follows_the_data(trained_version):
    first = trained_version(activate=False)
    same = trained_version(activate=False)
    examples.examples_add(rows=[(1, {"text": "새 예제", "label": "error"})], source="upload")
    changed = trained_version(activate=False)

    assert first.data_fingerprint == same.data_fingerprint
    assert changed.data_fingerprint != first.data_fingerprint
    assert changed.example_count == first.example_count + 1


def test_a_second_trigger_returns_the_queued_version(seed_examples):
    first, created = training.model_version_train(enqueue=False)
    second, created_again = training.model_version_train(enqueue=False, tokenizer="char")

    assert created and not created_again
    assert second.pk == first.pk
    assert ModelVersion.objects.count() == 1


def test_a_task_delivered_twice_trains_once(seed_examples):
    version, _ = training.model_version_train(enqueue=False)
    done = training.model_version_run(version_id=version.pk)
    again = training.model_version_run(version_id=version.pk)

    assert again.status == VersionStatus.READY and again.finished_at == done.finished_at


def test_a_failed_training_keeps_the_active_model(trained_version, monkeypatch):
    good = trained_version()

    def broken(*args, **kwargs):
        raise MemoryError("out of memory while fitting")

    monkeypatch.setattr(classifier, "train", broken)
    failed = trained_version()

    assert failed.status == VersionStatus.FAILED
    assert failed.error == "MemoryError: out of memory while fitting"
    assert failed.in_flight is None and not failed.active and failed.artifact == ""
    assert ModelVersion.objects.get(active=True) == good
    # and the next training may start
    monkeypatch.undo()
    assert trained_version().status == VersionStatus.READY


def test_activate_false_leaves_the_active_version(trained_version):
    first = trained_version()
    second = trained_version(activate=False)

    assert second.status == VersionStatus.READY and not second.active
    assert ModelVersion.objects.get(active=True) == first


def test_not_enough_data_is_a_conflict(db):
    examples.examples_add(rows=[(1, {"text": "a", "label": "x"}), (2, {"text": "b", "label": "y"})], source="upload")

    with pytest.raises(Conflict) as caught:
        training.model_version_train(enqueue=False)

    assert caught.value.code == "not_enough_data"
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"algorithm": "svm"}, "algorithm"),
        ({"tokenizer": "bpe"}, "tokenizer"),
        ({"params": {"C": 0}}, "params.C"),
        ({"params": {"max_iter": True}}, "params.max_iter"),
        ({"params": {"kernel": "rbf"}}, "params.kernel"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(seed_examples, kwargs, field):
    with pytest.raises(InvalidInput) as caught:
        training.model_version_train(enqueue=False, **kwargs)
    assert caught.value.field == field


def test_given_params_are_used(trained_version):
    version = trained_version(algorithm="complement_nb", params={"alpha": 0.05, "min_df": 1})

    assert version.params == {"alpha": 0.05, "min_df": 1}
    assert version.algorithm == "complement_nb" and version.status == VersionStatus.READY


def test_a_training_whose_worker_died_is_given_up(seed_examples, settings):
    settings.MODEL_TRAINING_STALE_SECONDS = 60
    stuck, _ = training.model_version_train(enqueue=False)
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    ModelVersion.objects.filter(pk=stuck.pk).update(status=VersionStatus.TRAINING, heartbeat_at=an_hour_ago)

    fresh, created = training.model_version_train(enqueue=False)

    stuck.refresh_from_db()
    assert created and fresh.pk != stuck.pk
    assert stuck.status == VersionStatus.FAILED and "died" in stuck.error and stuck.in_flight is None


def test_a_training_that_reports_is_not_given_up(seed_examples, settings):
    settings.MODEL_TRAINING_STALE_SECONDS = 60
    running, _ = training.model_version_train(enqueue=False)
    ModelVersion.objects.filter(pk=running.pk).update(status=VersionStatus.TRAINING, heartbeat_at=timezone.now())

    same, created = training.model_version_train(enqueue=False)

    assert not created and same.pk == running.pk


@pytest.mark.django_db(transaction=True)
def test_racing_triggers_queue_one_training(settings):
    settings.MODEL_MIN_EXAMPLES = 4
    examples.examples_add(rows=[(i, {"text": f"t{i}", "label": "ab"[i % 2]}) for i in range(8)], source="upload")
    results, errors = [], []
    barrier = threading.Barrier(6)

    def trigger():
        try:
            barrier.wait()
            results.append(training.model_version_train(enqueue=False))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert len({version.pk for version, _created in results}) == 1
    assert sum(created for _version, created in results) == 1
    assert ModelVersion.objects.count() == 1


def test_activation_rolls_back_and_refuses_what_is_not_ready(trained_version):
    first = trained_version()
    second = trained_version()
    assert ModelVersion.objects.get(active=True) == second

    versions.model_version_activate(version=first)

    assert ModelVersion.objects.get(active=True) == first
    queued, _ = training.model_version_train(enqueue=False)
    with pytest.raises(Conflict) as caught:
        versions.model_version_activate(version=queued)
    assert caught.value.code == "not_ready"


def test_a_version_whose_file_was_altered_cannot_be_activated(trained_version, model_storage):
    first = trained_version()
    second = trained_version()
    (model_storage / first.artifact).write_bytes(b"tampered")

    with pytest.raises(artifacts.ArtifactRejected) as caught:
        versions.model_version_activate(version=first)

    assert caught.value.code == "model_file_rejected"
    assert ModelVersion.objects.get(active=True) == second


def test_delete_removes_an_inactive_version_and_its_file(
    trained_version, model_storage, django_capture_on_commit_callbacks
):
    old = trained_version()
    active = trained_version()

    with django_capture_on_commit_callbacks(execute=True):
        versions.model_version_delete(version=old)

    assert not ModelVersion.objects.filter(pk=old.pk).exists()
    assert not (model_storage / old.artifact).exists()
    with pytest.raises(Conflict) as caught:
        versions.model_version_delete(version=active)
    assert caught.value.code == "active"
    assert (model_storage / active.artifact).exists()
