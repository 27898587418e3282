"""The /api/model/ endpoints: the seed's paths and shapes, the REST
viewsets, bad input named by field, and who may do what."""

import io
import json

import pytest
from django.utils import timezone

from conversations.services.logs import log_feedback_set, log_record
from modeltrainer.choices import VersionStatus
from modeltrainer.models import ModelVersion, TrainingExample
from tests.conftest import manage


def post(client, path, body=None, **kwargs):
    return client.post(path, body if body is not None else {}, format="json", **kwargs)


@pytest.fixture
def trainer_key(make_api_key, key_client):
    _key, secret = make_api_key(["model:train"])
    return key_client(secret)


@pytest.fixture
def service_key(make_api_key, key_client, owner):
    _key, secret = make_api_key(["service"], owner=owner)
    return key_client(secret)


@pytest.mark.parametrize("path", ["/api/model/status", "/api/model/status/"])
def test_status_before_any_training(owner_client, seed_examples, path):
    body = owner_client.get(path).json()

    assert body["server"] == "running" and body["model"] == "not_trained"
    assert body["log_count"] == 24
    assert body["examples"]["by_label"] == {"error": 8, "performance": 8, "security": 8}
    assert body["active_version"] is None and body["training"] is None


def test_status_shows_the_active_version_and_its_metrics(owner_client, trained_version):
    version = trained_version()
    owner_client.post("/api/model/predict", {"text": "지연"}, format="json")

    body = owner_client.get("/api/model/status").json()

    assert body["model"] == "trained"
    assert body["active_version"]["version"] == version.number
    assert body["metrics"]["macro_f1"] == version.metrics["macro_f1"]
    assert body["process"] == {"serving_version": version.number, "load_error": ""}


def test_predict_one_text_in_the_seed_shape(service_key, trained_version):
    version = trained_version()

    response = post(service_key, "/api/model/predict", {"text": "관리자 계정 로그인 시도가 차단되었습니다"})

    assert response.status_code == 200
    body = response.json()
    assert body["prediction"] == "security"
    assert set(body["probabilities"]) == {"error", "performance", "security"}
    assert body["confidence"] == max(body["probabilities"].values())
    assert body["version"] == version.number


def test_predict_several_texts(owner_client, trained_version):
    trained_version()

    body = post(owner_client, "/api/model/predict", {"texts": ["결제 실패 오류", "응답이 느립니다"]}).json()

    assert [row["prediction"] for row in body["predictions"]] == ["error", "performance"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": 42}, "text"),
        ({"texts": []}, "texts"),
        ({"texts": "one"}, "texts"),
        ({"texts": ["ok", ""]}, "texts.1"),
        ({"text": "x" * 10_001}, "text"),
    ],
)
def test_predict_bad_input_names_the_field(owner_client, trained_version, body, field):
    trained_version()

    response = post(owner_client, "/api/model/predict", body)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_predict_too_many_texts(owner_client, trained_version, settings):
    settings.MODEL_PREDICT_MAX_TEXTS = 2
    trained_version()

    response = post(owner_client, "/api/model/predict", {"texts": ["a", "b", "c"]})

    assert response.status_code == 400 and "texts" in response.json()["error"]["fields"]


def test_predict_without_a_model_is_503(owner_client, db):
    response = post(owner_client, "/api/model/predict", {"text": "hello"})

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "no_model"


@pytest.mark.parametrize(("lang", "marker"), [("ko", "분류됩니다"), ("en", "reads as")])
def test_analyze_log_explains_the_decision(owner_client, trained_version, lang, marker):
    trained_version()

    body = post(owner_client, "/api/model/analyze-log", {"text": "API 키 유출 의심으로 차단", "lang": lang}).json()

    assert body["prediction"] == "security"
    assert body["terms"] and all(term["weight"] > 0 for term in body["terms"])
    assert marker in body["comment"] and "security" in body["comment"]
    assert body["terms"][0]["term"] in body["comment"]


def test_analyze_log_needs_text(owner_client, trained_version):
    trained_version()
    response = post(owner_client, "/api/model/analyze-log", {"lang": "fr"})

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"text", "lang"}


def test_logs_recent_defaults_to_five_newest(owner_client, seed_examples):
    body = owner_client.get("/api/model/logs/recent").json()

    newest = list(TrainingExample.objects.order_by("-id").values_list("id", flat=True)[:5])
    assert [row["id"] for row in body["recent"]] == newest
    assert len(owner_client.get("/api/model/logs/recent?limit=12").json()["recent"]) == 12
    assert owner_client.get("/api/model/logs/recent?limit=0").status_code == 400


def test_train_queues_a_version_that_a_task_runs(
    staff_client, seed_examples, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}}

    with django_capture_on_commit_callbacks(execute=True):
        response = post(staff_client, "/api/model/train", {"tokenizer": "char"})

    assert response.status_code == 202
    assert response.json()["created"] is True and response.json()["status"] == "queued"
    version = ModelVersion.objects.get(pk=response.json()["id"])
    assert version.status == VersionStatus.READY and version.active and version.tokenizer == "char"


def test_a_second_train_returns_the_running_one(trainer_key, seed_examples):
    first = post(trainer_key, "/api/model/train").json()
    second = post(trainer_key, "/api/model/train").json()

    assert second["id"] == first["id"] and second["created"] is False


def test_train_without_enough_data_is_409(staff_client, db):
    response = post(staff_client, "/api/model/train")

    assert response.status_code == 409 and response.json()["error"]["code"] == "not_enough_data"


def test_train_bad_settings_name_the_field(staff_client, seed_examples):
    response = post(staff_client, "/api/model/train", {"algorithm": "svm", "params": {"C": "high"}})

    assert response.status_code == 400
    assert "algorithm" in response.json()["error"]["fields"]


def test_upload_json_rows_reports_each_problem(trainer_key, db):
    response = post(
        trainer_key,
        "/api/model/upload",
        [{"text": "디스크 사용률 경고", "label": "warning"}, {"text": "", "label": "x"}, {"text": "no label"}],
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["accepted"], body["rejected_count"]) == (1, 2)
    assert body["rejected"] == [
        {"row": 2, "field": "text", "reason": "The text is missing or empty."},
        {"row": 3, "field": "label", "reason": "The label is missing or empty."},
    ]


def test_upload_files(staff_client, db):
    csv_file = io.BytesIO("text,label\n느린 응답,performance\n느린 응답,performance\n".encode())
    csv_file.name = "rows.csv"
    jsonl_file = io.BytesIO(b'{"text": "login blocked", "label": "security"}\n')
    jsonl_file.name = "rows.jsonl"

    first = staff_client.post("/api/model/upload", {"file": csv_file}, format="multipart")
    second = staff_client.post("/api/model/upload", {"file": jsonl_file}, format="multipart")

    assert first.status_code == 201 and (first.json()["accepted"], first.json()["duplicates"]) == (1, 1)
    assert second.status_code == 201 and second.json()["accepted"] == 1
    assert set(TrainingExample.objects.values_list("label", flat=True)) == {"performance", "security"}


def test_upload_refuses_other_types_and_large_files(staff_client, db, settings):
    pickle_file = io.BytesIO(b"\x80\x04K\x01.")
    pickle_file.name = "model.pkl"
    response = staff_client.post("/api/model/upload", {"file": pickle_file}, format="multipart")
    assert response.status_code == 400 and response.json()["error"]["code"] == "unsupported_type"

    settings.MODEL_UPLOAD_MAX_BYTES = 20
    big = io.BytesIO(b'[{"text": "a long text here", "label": "x"}]')
    big.name = "big.json"
    response = staff_client.post("/api/model/upload", {"file": big}, format="multipart")
    assert response.status_code == 400 and response.json()["error"]["fields"] == {
        "file": [response.json()["error"]["fields"]["file"][0]]
    }
    assert response.json()["error"]["code"] == "too_large"


def test_upload_with_no_usable_row_is_400(staff_client, db):
    response = post(staff_client, "/api/model/upload", {"examples": [{"text": ""}]})

    assert response.status_code == 400
    error = response.json()["error"]
    assert (list(error["fields"]), error["code"]) == (["examples"], "no_valid_rows")
    assert error["report"]["rejected"] == [{"row": 1, "field": "text", "reason": "The text is missing or empty."}]
    assert not TrainingExample.objects.exists()


def test_import_conversations_over_the_api(staff_client, db):
    log = log_record(
        account=None,
        user_id="u",
        question="환불은 언제?",
        answer="7일",
        status="completed",
        latency_ms=3,
        created_at=timezone.now(),
    )
    log_feedback_set(log=log, rating=-1)

    response = post(staff_client, "/api/model/import-conversations", {"label_down": "bad_answer"})

    assert response.status_code == 201 and response.json()["accepted"] == 1
    example = TrainingExample.objects.get()
    assert (example.label, example.conversation_log_id, example.source) == ("bad_answer", log.pk, "conversation")


def test_metrics_over_versions(owner_client, trained_version):
    first = trained_version()
    second = trained_version(tokenizer="char")

    body = owner_client.get("/api/model/metrics").json()

    assert [row["version"] for row in body["versions"]] == [first.number, second.number]
    assert body["versions"][1]["macro_f1"] == second.metrics["macro_f1"] and body["versions"][1]["active"]
    assert body["labels"] == {"error": 8, "performance": 8, "security": 8}
    assert body["sources"] == {"upload": 24}
    assert body["chart"] == "/model/metrics/"


def test_versions_list_activate_and_delete(staff_client, trained_version, django_capture_on_commit_callbacks):
    first = trained_version()
    second = trained_version()

    listed = staff_client.get("/api/model/versions/").json()
    assert [row["number"] for row in listed["results"]] == [second.number, first.number]
    assert staff_client.get("/api/model/versions/?status=failed").json()["count"] == 0

    rolled = staff_client.post(f"/api/model/versions/{first.pk}/activate/")
    assert rolled.status_code == 200 and rolled.json()["active"] is True

    refused = staff_client.delete(f"/api/model/versions/{first.pk}/")
    assert refused.status_code == 409
    with django_capture_on_commit_callbacks(execute=True):
        deleted = staff_client.delete(f"/api/model/versions/{second.pk}/")
    assert deleted.status_code == 204
    assert list(ModelVersion.objects.values_list("number", flat=True)) == [first.number]


def test_examples_viewset_filters_and_creates(staff_client, seed_examples):
    body = staff_client.get("/api/model/examples/?label=security&source=upload").json()
    assert body["count"] == 8 and {row["label"] for row in body["results"]} == {"security"}
    assert staff_client.get("/api/model/examples/?labels=x").status_code == 400  # unknown filter

    created = post(staff_client, "/api/model/examples/", {"text": "새 로그", "label": "error"})
    duplicate = post(staff_client, "/api/model/examples/", {"text": "새 로그", "label": "error"})

    assert created.status_code == 201 and created.json()["source"] == "admin"
    assert duplicate.status_code == 400 and duplicate.json()["error"]["code"] == "duplicate"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/model/train", {}),
        ("post", "/api/model/upload", [{"text": "a", "label": "b"}]),
        ("post", "/api/model/import-conversations", {}),
        ("post", "/api/model/examples/", {"text": "a", "label": "b"}),
    ],
)
def test_writes_need_staff_or_a_training_key(owner_client, service_key, trainer_key, seed_examples, method, path, body):
    assert getattr(owner_client, method)(path, body, format="json").status_code == 403
    assert getattr(service_key, method)(path, body, format="json").status_code == 403
    assert getattr(trainer_key, method)(path, body, format="json").status_code < 400


def test_version_activation_needs_staff_or_a_training_key(owner_client, service_key, trainer_key, trained_version):
    version = trained_version()
    path = f"/api/model/versions/{version.pk}/activate/"

    assert owner_client.post(path).status_code == 403
    assert service_key.post(path).status_code == 403
    assert trainer_key.post(path).status_code == 200


def test_a_worker_key_cannot_predict_and_a_training_key_cannot_read_other_apps(
    make_api_key, key_client, trained_version
):
    trained_version()
    _key, worker_secret = make_api_key(["worker"])
    _key, trainer_secret = make_api_key(["model:train"])

    assert post(key_client(worker_secret), "/api/model/predict", {"text": "a"}).status_code == 403
    assert key_client(trainer_secret).get("/api/conversation/logs").status_code == 403


def test_anonymous_callers_are_refused(anon_client, db):
    for path in ("/api/model/status", "/api/model/metrics", "/api/model/logs/recent"):
        assert anon_client.get(path).status_code in (401, 403)
    assert post(anon_client, "/api/model/predict", {"text": "a"}).status_code in (401, 403)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_training_runs_in_a_db_worker_process(staff_client, seed_examples, model_storage):
    queued = post(staff_client, "/api/model/train").json()
    assert ModelVersion.objects.get(pk=queued["id"]).status == VersionStatus.QUEUED  # nothing ran it yet

    done = manage("db_worker", "--batch", "--no-startup-delay", env={"MODEL_STORAGE_DIR": str(model_storage)})
    assert done.returncode == 0, done.stderr

    version = ModelVersion.objects.get(pk=queued["id"])
    assert version.status == VersionStatus.READY and version.active, version.error
    assert (model_storage / version.artifact).exists()
    body = post(staff_client, "/api/model/predict", {"text": "결제 요청 실패 오류"}).json()
    assert body == {**body, "prediction": "error", "version": version.number}
    assert json.loads(json.dumps(body))  # plain JSON


def test_predict_abstains_on_a_text_about_nothing_it_learned(owner_client, trained_version, settings):
    settings.MODEL_MIN_CONFIDENCE = 0.5
    version = trained_version()

    body = post(owner_client, "/api/model/predict", {"text": "hello world"}).json()

    assert (body["prediction"], body["abstained"], body["min_confidence"]) == ("unknown", True, 0.5)
    # The scores are still given, and the label the model leaned to.
    assert body["confidence"] < 0.5 and body["confidence"] == max(body["probabilities"].values())
    assert body["label"] == max(body["probabilities"], key=body["probabilities"].get)
    assert set(body["probabilities"]) == {"error", "performance", "security"}
    assert body["version"] == version.number


def test_predict_many_abstains_per_text(owner_client, trained_version, settings):
    settings.MODEL_MIN_CONFIDENCE = 0.5
    trained_version(tokenizer="char")

    texts = ["관리자 계정 로그인 시도가 차단되었습니다", "hello world", "오늘 점심은 김밥이었어요"]
    rows = post(owner_client, "/api/model/predict", {"texts": texts}).json()["predictions"]

    assert [(row["prediction"], row["abstained"]) for row in rows] == [
        ("security", False),
        ("unknown", True),
        ("unknown", True),
    ]
    assert rows[0]["label"] == "security" and rows[0]["confidence"] >= 0.5


def test_a_zero_threshold_never_abstains(owner_client, trained_version, settings):
    settings.MODEL_MIN_CONFIDENCE = 0.0
    trained_version()

    body = post(owner_client, "/api/model/predict", {"text": "hello world"}).json()

    assert body["abstained"] is False and body["prediction"] == body["label"] != "unknown"


@pytest.mark.parametrize(("lang", "marker"), [("ko", "확신하지 못합니다"), ("en", "not confident enough")])
def test_analyze_log_abstains_too(owner_client, trained_version, settings, lang, marker):
    settings.MODEL_MIN_CONFIDENCE = 0.5
    trained_version()

    body = post(owner_client, "/api/model/analyze-log", {"text": "hello world", "lang": lang}).json()

    assert (body["prediction"], body["abstained"]) == ("unknown", True)
    assert marker in body["comment"] and body["label"] in body["comment"]
    assert body["probabilities"] and body["confidence"] < 0.5
