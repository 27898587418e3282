"""import_training_examples and train_model: what an operator runs."""

import hashlib
import re
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from modeltrainer import classifier
from modeltrainer.choices import Algorithm, ExampleSource, Tokenizer, Trigger, VersionStatus
from modeltrainer.models import ModelVersion, TrainingExample
from modeltrainer.services import training
from modeltrainer.services.examples import text_digest
from tests.conftest import manage

pytestmark = pytest.mark.django_db

CSV = """text,label
디스크 사용률이 95%를 넘었습니다,capacity
"메모리가 부족합니다, 스왑이 늘었습니다",capacity
레이블이 빠진 행,
디스크 사용률이 95%를 넘었습니다,capacity
디스크 사용률이 95%를 넘었습니다,error
"""

JSONL = """{"text": "배포가 완료되었습니다", "label": "deploy"}
this line is not JSON
{"text": "롤백을 수행했습니다", "label": 7}
{"text": "배포가 완료되었습니다", "label": "deploy"}

{"text": "   ", "label": "deploy"}
"""


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def stored() -> set[tuple[str, str, str]]:
    return set(TrainingExample.objects.values_list("text", "label", "source"))


def test_import_csv_counts_stores_and_names_the_bad_rows(tmp_path):
    path = tmp_path / "examples.csv"
    path.write_text(CSV, encoding="utf-8")

    out, _err = run("import_training_examples", str(path))

    # Row 1 is the header; row 5 repeats row 2; row 6 is the same text with another label.
    assert out.splitlines() == [
        "  row 4, label: The label is missing or empty.",
        "3 accepted, 1 duplicates, 1 rejected",
    ]
    assert stored() == {
        ("디스크 사용률이 95%를 넘었습니다", "capacity", ExampleSource.COMMAND),
        ("메모리가 부족합니다, 스왑이 늘었습니다", "capacity", ExampleSource.COMMAND),
        ("디스크 사용률이 95%를 넘었습니다", "error", ExampleSource.COMMAND),
    }
    example = TrainingExample.objects.get(label="error")
    assert example.text_sha256 == text_digest("디스크 사용률이 95%를 넘었습니다")
    assert example.created_by is None


def test_import_jsonl_counts_stores_and_names_the_bad_lines(tmp_path):
    path = tmp_path / "examples.jsonl"
    path.write_text(JSONL, encoding="utf-8")

    out, _err = run("import_training_examples", str(path))

    assert out.splitlines() == [
        "  row 2, row: Not a JSON object with text and label.",
        "  row 6, text: The text is missing or empty.",
        "2 accepted, 1 duplicates, 2 rejected",
    ]
    # A number as a label is stored as its text.
    assert stored() == {
        ("배포가 완료되었습니다", "deploy", ExampleSource.COMMAND),
        ("롤백을 수행했습니다", "7", ExampleSource.COMMAND),
    }


def test_importing_the_same_file_again_stores_nothing_new(tmp_path):
    path = tmp_path / "examples.jsonl"
    path.write_text(JSONL, encoding="utf-8")
    run("import_training_examples", str(path))
    before = set(TrainingExample.objects.values_list("pk", flat=True))

    out, _err = run("import_training_examples", str(path))

    assert out.splitlines()[-1] == "0 accepted, 3 duplicates, 2 rejected"
    assert set(TrainingExample.objects.values_list("pk", flat=True)) == before


def test_import_of_a_missing_file_is_a_command_error(tmp_path):
    missing = tmp_path / "nowhere.csv"

    with pytest.raises(CommandError, match="does not exist") as raised:
        run("import_training_examples", str(missing))

    assert str(missing) in str(raised.value)
    assert raised.value.returncode != 0
    assert not TrainingExample.objects.exists()


@pytest.mark.parametrize("name", ["examples.txt", "examples"])
def test_import_of_an_unsupported_file_type_is_a_command_error(tmp_path, name):
    path = tmp_path / name
    path.write_text('{"text": "배포가 완료되었습니다", "label": "deploy"}\n', encoding="utf-8")

    with pytest.raises(CommandError, match=r"Unsupported file type .*send \.json, \.jsonl or \.csv") as raised:
        run("import_training_examples", str(path))

    assert raised.value.returncode != 0
    assert not TrainingExample.objects.exists()


def test_import_of_a_csv_without_the_columns_is_a_command_error(tmp_path):
    path = tmp_path / "examples.csv"
    path.write_text("message,category\n디스크 부족,capacity\n", encoding="utf-8")

    with pytest.raises(CommandError, match="must name the columns text and label"):
        run("import_training_examples", str(path))
    assert not TrainingExample.objects.exists()


def test_train_model_trains_a_ready_version_without_activating_it(seed_examples, model_storage):
    # By default the first version becomes active (test_activation.py);
    # --no-activate leaves it for activation by hand.
    out, err = run("train_model", "--no-activate")

    version = ModelVersion.objects.get()
    assert (version.number, version.status, version.active) == (1, VersionStatus.READY, None)
    assert (version.trigger, version.algorithm, version.tokenizer) == (
        Trigger.COMMAND,
        Algorithm.LOGISTIC_REGRESSION,
        Tokenizer.MORPHEME,
    )
    assert version.example_count == 24
    assert (model_storage / version.artifact).is_file()
    metrics = version.metrics
    assert out.strip() == (
        f"v1 ready: accuracy {metrics['accuracy']}, macro F1 {metrics['macro_f1']}, 24 examples, "
        f"{version.duration_s} s (not activated; use --activate or the API)"
    )
    assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["macro_f1"] <= 1
    # The progress bar goes to stderr and ends at 100%.
    assert "v1" in err and "100%" in err


def test_train_model_with_activate_replaces_the_active_version(trained_version):
    before = trained_version()
    assert before.active

    out, _err = run("train_model", "--activate", "--algorithm", "complement_nb", "--tokenizer", "char")

    version = ModelVersion.objects.get(number=2)
    before.refresh_from_db()
    assert (version.active, before.active) == (True, None)
    assert (version.algorithm, version.tokenizer) == (Algorithm.COMPLEMENT_NB, Tokenizer.CHAR)
    assert out.startswith(f"v2 ready: accuracy {version.metrics['accuracy']}, macro F1 {version.metrics['macro_f1']}")
    assert out.rstrip().endswith("(active)")


def test_train_model_with_too_few_examples_fails_clearly():
    TrainingExample.objects.create(text="하나뿐인 예제", label="error", text_sha256=text_digest("하나뿐인 예제"))

    with pytest.raises(CommandError, match=r"Not enough training data: 1 examples in 1 labels.*at least 10 examples"):
        run("train_model")

    assert not ModelVersion.objects.exists()


def test_train_model_refuses_while_another_training_is_queued(seed_examples):
    queued, _created = training.model_version_train(enqueue=False)

    with pytest.raises(CommandError, match=re.escape("v1 is already queued; wait for it to finish.")):
        run("train_model")

    assert list(ModelVersion.objects.all()) == [queued]


def test_train_model_reports_a_failed_training(trained_version, monkeypatch):
    active = trained_version()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(classifier, "train", broken)

    with pytest.raises(CommandError, match="v2 failed: RuntimeError: disk full"):
        run("train_model", "--activate")

    failed = ModelVersion.objects.get(number=2)
    assert (failed.status, failed.active, failed.in_flight, failed.artifact) == (VersionStatus.FAILED, None, None, "")
    assert ModelVersion.objects.get(active=True) == active


def test_train_model_rejects_an_unknown_algorithm(seed_examples):
    with pytest.raises(CommandError, match="invalid choice: 'svm'"):
        run("train_model", "--algorithm", "svm")
    assert not ModelVersion.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_train_model_from_the_command_line(seed_examples, model_storage):
    done = manage("train_model", "--activate", env={"MODEL_STORAGE_DIR": str(settings.MODEL_STORAGE_DIR)})

    assert done.returncode == 0, done.stderr
    version = ModelVersion.objects.get()
    assert (version.status, version.active, version.trigger) == (VersionStatus.READY, True, Trigger.COMMAND)
    # The last line is the command's summary (log lines also go to stdout).
    # In the platform's default language, Korean.
    summary = done.stdout.splitlines()[-1]
    assert summary.startswith(
        f"v1 준비됨: 정확도 {version.metrics['accuracy']}, macro F1 {version.metrics['macro_f1']}"
    )
    assert summary.endswith("(활성)")
    assert "활성 버전이 없어 이 버전이 활성화되었습니다." in done.stderr
    # The child wrote the model file where this process reads it, as recorded.
    data = (model_storage / version.artifact).read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (version.artifact_size, version.artifact_sha256)

    # Too few examples: the child exits non-zero and says why.
    TrainingExample.objects.all().delete()
    refused = manage("train_model", env={"MODEL_STORAGE_DIR": str(settings.MODEL_STORAGE_DIR), "LANGUAGE_CODE": "en"})
    assert refused.returncode == 1
    assert "CommandError: Not enough training data" in refused.stderr
    assert ModelVersion.objects.count() == 1


def test_load_demo_trains_a_model_that_answers(db, client, django_user_model):
    call_command("load_demo", stdout=StringIO())
    call_command("load_demo", stdout=StringIO())  # a second run adds nothing

    version = ModelVersion.objects.get()
    assert version.active and version.status == VersionStatus.READY
    assert version.example_count == TrainingExample.objects.count() > 800
    assert version.metrics["macro_f1"] > 0.6
    user = django_user_model.objects.get(username="demo")
    client.force_login(user)
    answer = client.post(
        "/api/model/predict", {"text": "결제 서버에서 예외가 발생해 요청이 실패했습니다"}, "application/json"
    )
    assert answer.status_code == 200 and answer.json()["prediction"] == "error"
