"""A newly trained version replaces the active one only when it is not
worse (held-out macro F1 within MODEL_ACTIVATE_TOLERANCE), unless forced,
and the version records what was decided and why."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations.services.logs import log_feedback_set, log_record
from modeltrainer import classifier
from modeltrainer.choices import ActivationResult, Algorithm, Tokenizer, VersionStatus
from modeltrainer.models import ModelVersion
from modeltrainer.services import examples, training, versions

# Questions users asked the chat, rated up or down for reasons that have
# nothing to do with their words (the answer was good or bad): as
# examples of "helpful"/"unhelpful" they teach a classifier little.
RATED_CHATS = [
    ("환불은 언제 되나요?", 1),
    ("환불 절차가 어떻게 되나요?", -1),
    ("배송이 얼마나 걸리나요?", 1),
    ("배송 조회는 어디서 하나요?", -1),
    ("how do I get a refund?", -1),
    ("when will my refund arrive?", 1),
    ("how long does shipping take?", -1),
    ("where can I track my order?", 1),
    ("비밀번호를 바꾸고 싶어요", 1),
    ("비밀번호를 잊어버렸어요", -1),
    ("can I change my password?", -1),
    ("I forgot my password", 1),
    ("주문을 취소할 수 있나요?", -1),
    ("주문 취소는 어떻게 하나요?", 1),
    ("can I cancel my order?", 1),
    ("how do I cancel an order?", -1),
]


def post(client, path, body=None):
    return client.post(path, body if body is not None else {}, format="json")


def _rated_chats_imported(client) -> None:
    for question, rating in RATED_CHATS:
        log = log_record(
            account=None,
            user_id="customer",
            question=question,
            answer="...",
            status="completed",
            latency_ms=5,
            created_at=timezone.now(),
        )
        log_feedback_set(log=log, rating=rating)
    response = post(client, "/api/model/import-conversations", {})
    assert response.status_code == 201 and response.json()["accepted"] == len(RATED_CHATS)


def _train(client, body) -> dict:
    """POST /api/model/train and run the queued version as the task would."""
    queued = post(client, "/api/model/train", body)
    assert queued.status_code == 202, queued.json()
    training.model_version_run(version_id=queued.json()["id"])
    return client.get(f"/api/model/versions/{queued.json()['id']}/").json()


def test_rated_chats_make_a_worse_model_that_stays_inactive_until_forced(staff_client, seed_examples, settings):
    """The user's story: rated chats were imported and a training started;
    v2 scored far lower than v1 and used to replace it at once."""
    settings.MODEL_RELOAD_SECONDS = 0
    v1 = _train(staff_client, {"tokenizer": "char"})
    assert v1["active"] is True
    assert v1["activation"] == {
        **v1["activation"],
        "requested": "if_better",
        "result": "activated",
        "code": "no_active",
    }
    assert post(staff_client, "/api/model/predict", {"text": "결제 요청이 예외로 실패했습니다"}).json()["version"] == 1

    _rated_chats_imported(staff_client)
    v2 = _train(staff_client, {"tokenizer": "char"})

    # Worse by far more than the tolerance: v1 stays active and serving.
    assert v2["status"] == "ready" and v2["active"] is False
    assert v2["metrics"]["macro_f1"] < v1["metrics"]["macro_f1"] - settings.MODEL_ACTIVATE_TOLERANCE
    decision = v2["activation"]
    assert (decision["requested"], decision["result"], decision["code"]) == ("if_better", "kept_active_v1", "worse")
    assert (decision["compared_with"], decision["macro_f1"], decision["active_macro_f1"]) == (
        1,
        v2["metrics"]["macro_f1"],
        v1["metrics"]["macro_f1"],
    )
    assert decision["delta"] == round(v2["metrics"]["macro_f1"] - v1["metrics"]["macro_f1"], 4)
    assert "v1 stays active" in decision["reason"] and str(v2["metrics"]["macro_f1"]) in decision["reason"]
    status = staff_client.get("/api/model/status").json()
    assert status["active_version"]["version"] == 1
    answer = post(staff_client, "/api/model/predict", {"text": "결제 요청이 예외로 실패했습니다"}).json()
    assert (answer["version"], answer["label"]) == (1, "error")

    # Forced, the same worse model goes live.
    v3 = _train(staff_client, {"tokenizer": "char", "activate": "always"})
    assert v3["active"] is True and v3["metrics"]["macro_f1"] == v2["metrics"]["macro_f1"]
    assert (v3["activation"]["result"], v3["activation"]["code"]) == ("activated", "forced")
    assert v3["activation"]["compared_with"] == 1
    assert ModelVersion.objects.get(active=True).number == 3
    assert post(staff_client, "/api/model/predict", {"text": "결제 요청이 예외로 실패했습니다"}).json()["version"] == 3

    # And the comparison says by how much, label by label.
    compared = staff_client.get(f"/api/model/versions/{v3['id']}/compare/?with={v1['id']}").json()
    assert compared["overall"]["macro_f1"] == {
        "version": v3["metrics"]["macro_f1"],
        "against": v1["metrics"]["macro_f1"],
        "delta": round(v3["metrics"]["macro_f1"] - v1["metrics"]["macro_f1"], 4),
    }
    by_label = {row["label"]: row for row in compared["per_label_f1"]}
    assert set(by_label) == {"error", "performance", "security", "helpful", "unhelpful"}
    assert by_label["helpful"]["against"] is None and by_label["helpful"]["delta"] is None
    assert by_label["error"]["delta"] == round(
        v3["metrics"]["per_label"]["error"]["f1"] - v1["metrics"]["per_label"]["error"]["f1"], 4
    )


@pytest.mark.parametrize(
    ("active_f1", "new_f1", "result", "code"),
    [
        (0.79, 0.59, "kept_active_v1", "worse"),
        (0.79, 0.785, "activated", "not_worse"),
        (0.79, 0.78, "activated", "not_worse"),  # exactly the tolerance
        (0.79, 0.7799, "kept_active_v1", "worse"),
        (0.79, 0.95, "activated", "not_worse"),
        (0.79, None, "kept_active_v1", "no_metrics"),
        (None, 0.5, "activated", "active_has_no_metrics"),
    ],
)
def test_the_rule_compares_macro_f1_with_the_tolerance(active_f1, new_f1, result, code):
    active = ModelVersion(number=1, metrics={} if active_f1 is None else {"macro_f1": active_f1})
    candidate = ModelVersion(number=2, metrics={} if new_f1 is None else {"macro_f1": new_f1})

    decision = versions.activation_compare(candidate=candidate, active=active, tolerance=0.01)

    assert (decision["result"], decision["code"]) == (result, code)
    assert versions.activation_compare(candidate=candidate, active=None, tolerance=0.01)["code"] == "no_active"


def _worse_data() -> None:
    """Examples that make the next version worse: generic texts, labels at random."""
    rows = [
        {"text": f"{word} 관련 문의 {n}", "label": label}
        for n, (word, label) in enumerate(
            [("일반", "error"), ("기타", "security"), ("일반", "performance"), ("기타", "error")] * 4
        )
    ]
    examples.examples_add(rows=list(enumerate(rows, start=1)), source="upload")


def test_the_tolerance_is_a_setting(trained_version, settings):
    first = trained_version(tokenizer="char")
    _worse_data()
    settings.MODEL_ACTIVATE_TOLERANCE = 1.0

    second = trained_version(tokenizer="char")

    assert second.metrics["macro_f1"] < first.metrics["macro_f1"]
    assert second.active and second.activation["code"] == "not_worse"
    assert second.activation["tolerance"] == 1.0


@pytest.mark.parametrize(
    ("activate", "requested"),
    [(True, "if_better"), ("true", "if_better"), (False, "never"), ("never", "never"), ("always", "always")],
)
def test_the_api_accepts_true_false_and_the_three_requests(staff_client, seed_examples, activate, requested):
    body = post(staff_client, "/api/model/train", {"activate": activate}).json()

    assert body["activation_requested"] == requested
    assert body["activation"]["requested"] == requested and body["activation"]["result"] == "pending"


def test_omitted_activate_means_if_better(staff_client, seed_examples):
    body = post(staff_client, "/api/model/train", {}).json()

    assert body["activation"]["requested"] == "if_better"


@pytest.mark.parametrize("activate", ["sometimes", 1, None, ["always"]])
def test_a_bad_activate_is_refused_naming_the_field(staff_client, seed_examples, activate):
    response = post(staff_client, "/api/model/train", {"activate": activate})

    assert response.status_code == 400
    assert "activate" in response.json()["error"]["fields"]
    assert not ModelVersion.objects.exists()


def test_never_leaves_even_the_first_version_inactive(trained_version):
    version = trained_version(activate="never")

    assert version.status == VersionStatus.READY and not version.active
    assert version.activation == {"requested": "never", "result": "not_requested", "code": "not_requested"}


def test_a_failed_training_records_that_nothing_changed(trained_version, monkeypatch):
    good = trained_version()
    monkeypatch.setattr(classifier, "train", lambda *args, **kwargs: 1 / 0)

    failed = trained_version(activate="always")

    assert failed.status == VersionStatus.FAILED
    assert failed.activation == {"requested": "always", "result": "training_failed", "code": "training_failed"}
    assert ModelVersion.objects.get(active=True) == good


def test_a_rejected_file_is_recorded_and_the_active_one_stays(trained_version, model_storage, monkeypatch):
    good = trained_version()
    real_write = training.artifacts.artifact_write

    def write_then_tamper(payload, *, name):
        stored = real_write(payload, name=name)
        (model_storage / stored.name).write_bytes(b"tampered")
        return stored

    monkeypatch.setattr(training.artifacts, "artifact_write", write_then_tamper)
    version = trained_version(activate="always")

    assert version.status == VersionStatus.READY and not version.active
    assert (version.activation["result"], version.activation["code"]) == ("activation_failed", "file_rejected")
    assert ModelVersion.objects.get(active=True) == good


def test_activating_by_hand_is_never_second_guessed(staff_client, trained_version):
    first = trained_version(tokenizer="char")
    _worse_data()
    worse = trained_version(tokenizer="char")
    assert not worse.active and worse.activation["result"] == f"{ActivationResult.KEPT_ACTIVE}_v{first.number}"

    response = staff_client.post(f"/api/model/versions/{worse.pk}/activate/")

    assert response.status_code == 200 and response.json()["active"] is True
    rolled_back = staff_client.post(f"/api/model/versions/{first.pk}/activate/")
    assert rolled_back.json()["active"] is True and ModelVersion.objects.get(active=True) == first


def test_compare_defaults_to_the_active_version_and_checks_with(staff_client, trained_version):
    first = trained_version(tokenizer="char")
    second = trained_version(activate="never")

    body = staff_client.get(f"/api/model/versions/{second.pk}/compare/").json()

    assert (body["version"]["version"], body["against"]["version"]) == (second.number, first.number)
    assert body["overall"]["accuracy"]["delta"] == round(second.metrics["accuracy"] - first.metrics["accuracy"], 4)
    assert [row["label"] for row in body["per_label_f1"]] == ["error", "performance", "security"]
    missing = staff_client.get(f"/api/model/versions/{second.pk}/compare/?with=999999")
    assert missing.status_code == 400 and "with" in missing.json()["error"]["fields"]
    assert staff_client.get(f"/api/model/versions/{second.pk}/compare/?with=x").status_code == 400


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_train_model_keeps_a_better_active_version_and_says_so(trained_version):
    first = trained_version(tokenizer="char")
    _worse_data()

    out, err = run("train_model", "--tokenizer", "char")

    version = ModelVersion.objects.get(number=2)
    assert not version.active and ModelVersion.objects.get(active=True) == first
    reason = version.activation and f"Macro F1 {version.metrics['macro_f1']} is worse than the active v1's"
    assert out.startswith("v2 ready:") and reason in out and out.rstrip().endswith("to use it anyway.)")
    assert "v1 stays active" in out and "v1 stays active" in err


def test_train_model_force_activate_replaces_a_better_version(trained_version):
    trained_version(tokenizer="char")
    _worse_data()

    out, err = run("train_model", "--tokenizer", "char", "--force-activate")

    version = ModelVersion.objects.get(number=2)
    assert version.active and version.activation["code"] == "forced"
    assert out.rstrip().endswith("(active)") and "Activated as requested (forced)" in err


def test_train_model_activates_the_first_version_by_default(seed_examples):
    out, err = run("train_model", "--algorithm", Algorithm.LOGISTIC_REGRESSION, "--tokenizer", Tokenizer.CHAR)

    version = ModelVersion.objects.get()
    assert version.active and version.activation["code"] == "no_active"
    assert out.strip() == (
        f"v1 ready: accuracy {version.metrics['accuracy']}, macro F1 {version.metrics['macro_f1']}, 24 examples, "
        f"{version.duration_s} s (active)"
    )
    assert "No version was active, so this one became active." in err


def test_compare_with_no_active_version_has_nothing_to_compare_with(staff_client, trained_version):
    version = trained_version(activate="never")

    body = staff_client.get(f"/api/model/versions/{version.pk}/compare/").json()

    assert body["against"] is None
    assert body["overall"]["macro_f1"] == {"version": version.metrics["macro_f1"], "against": None, "delta": None}
    assert all(row["against"] is None and row["delta"] is None for row in body["per_label_f1"])


def test_a_version_trained_before_decisions_were_recorded_reads_empty(staff_client, trained_version):
    version = trained_version()
    ModelVersion.objects.filter(pk=version.pk).update(activation={})

    body = staff_client.get(f"/api/model/versions/{version.pk}/").json()

    assert body["activation"] == {
        "requested": "if_better",
        "requested_label": "If not worse than the active version",
        "result": "",
        "result_label": "",
        "reason": "",
    }
