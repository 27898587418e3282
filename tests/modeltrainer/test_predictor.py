"""The active model of a server process: loaded after its checksum, swapped
when another version is activated, never failing a request meanwhile."""

import threading
import time

import pytest

from modeltrainer import predictor
from modeltrainer.models import ModelVersion
from modeltrainer.predictor import NoActiveModel, active_model
from modeltrainer.services import versions


def test_no_model_is_a_clear_503(db):
    with pytest.raises(NoActiveModel) as caught:
        active_model.get()
    assert caught.value.status_code == 503 and "train" in caught.value.message


def test_the_active_version_is_served_and_cached(trained_version, django_assert_num_queries, settings):
    settings.MODEL_RELOAD_SECONDS = 60
    version = trained_version()

    model = active_model.get()
    with django_assert_num_queries(0):
        assert active_model.get() is model

    assert (model.version_id, model.number) == (version.pk, version.number)
    assert model.predict(["결제 요청이 실패했습니다"])[0].label == "error"


def test_activation_switches_the_process_within_the_reload_interval(trained_version, settings):
    settings.MODEL_RELOAD_SECONDS = 0.2
    first = trained_version()
    second = trained_version()
    assert active_model.get().number == second.number

    versions.model_version_activate(version=first)
    assert active_model.get().number == second.number  # checked at most every 0.2 s
    time.sleep(0.25)

    assert active_model.get().number == first.number


def test_a_tampered_file_is_not_loaded_and_the_process_keeps_its_model(trained_version, model_storage, settings):
    settings.MODEL_RELOAD_SECONDS = 0
    first = trained_version()
    assert active_model.get().number == first.number
    second = trained_version(activate=False)
    versions.model_version_activate(version=second)
    (model_storage / second.artifact).write_bytes(b"not the trained model")
    rejected = []

    def alert(sender, version, error, **kwargs):
        rejected.append(version.number)

    predictor.artifact_rejected.connect(alert)
    try:
        served = active_model.get()
    finally:
        predictor.artifact_rejected.disconnect(alert)

    assert served.number == first.number
    assert rejected == [second.number]
    assert "SHA-256" in active_model.last_error


def test_a_tampered_file_with_nothing_loaded_is_a_503_read_once(trained_version, model_storage, settings, monkeypatch):
    settings.MODEL_RELOAD_SECONDS = 0
    version = trained_version()
    (model_storage / version.artifact).write_bytes(b"swapped")
    reads = []
    original = predictor.artifacts.artifact_load
    monkeypatch.setattr(predictor.artifacts, "artifact_load", lambda *a, **k: reads.append(1) or original(*a, **k))

    for _ in range(3):
        with pytest.raises(predictor.artifacts.ArtifactRejected):
            active_model.get()

    assert reads == [1]


@pytest.mark.django_db(transaction=True)
def test_predictions_never_fail_while_versions_switch(seed_examples, settings):
    from modeltrainer.services import training

    settings.MODEL_RELOAD_SECONDS = 0.01
    built = []
    for tokenizer in ("morpheme", "char", "morpheme"):
        version, _ = training.model_version_train(enqueue=False, tokenizer=tokenizer)
        built.append(training.model_version_run(version_id=version.pk))
    stop = threading.Event()
    served, errors = [], []

    def predict_loop():
        from django.db import connection

        try:
            while not stop.is_set():
                model = active_model.get()
                assert model.predict(["로그인 시도가 차단되었습니다"])[0].label
                served.append(model.number)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=predict_loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    for version in built * 3:
        versions.model_version_activate(version=ModelVersion.objects.get(pk=version.pk))
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(10)

    assert errors == []
    assert set(served) == {version.number for version in built}
