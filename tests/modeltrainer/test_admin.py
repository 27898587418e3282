"""The admin: versions are read-only records to roll back to or delete;
examples can be browsed, filtered and added by hand."""

import pytest
from django.contrib import messages
from django.contrib.messages import get_messages

from modeltrainer.choices import ExampleSource, VersionStatus
from modeltrainer.models import ModelVersion, TrainingExample
from modeltrainer.services.examples import examples_add, text_digest
from tests.modeltrainer.conftest import failed_version

VERSIONS = "/admin/modeltrainer/modelversion/"
EXAMPLES = "/admin/modeltrainer/trainingexample/"


def _messages(response) -> list[tuple[int, str]]:
    return [(message.level, message.message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def two_versions(trained_version):
    """v1 ready, v2 ready and active."""
    first = trained_version()
    second = trained_version()
    first.refresh_from_db()
    assert (first.active, second.active) == (None, True)
    return first, second


def test_version_changelist_lists_metrics_and_filters_by_status(admin_client, two_versions):
    first, second = two_versions
    failed = failed_version(3)

    page = admin_client.get(VERSIONS)

    assert page.status_code == 200
    assert [spec.title for spec in page.context["cl"].filter_specs] == ["status", "algorithm", "tokenizer"]
    assert {row.pk for row in page.context["cl"].result_list} == {first.pk, second.pk, failed.pk}
    assert str(second.metrics["macro_f1"]) in page.content.decode()
    only_failed = admin_client.get(VERSIONS, {"status__exact": VersionStatus.FAILED})
    assert [row.pk for row in only_failed.context["cl"].result_list] == [failed.pk]
    # Versions come from training, not from a form.
    assert admin_client.get(f"{VERSIONS}add/").status_code == 403


def test_example_changelist_filters_by_label_and_source(admin_client, seed_examples):
    text = "관리자가 직접 넣은 예제"
    TrainingExample.objects.create(text=text, label="error", source=ExampleSource.ADMIN, text_sha256=text_digest(text))

    page = admin_client.get(EXAMPLES)
    assert page.status_code == 200
    assert [spec.title for spec in page.context["cl"].filter_specs] == ["label", "source"]
    assert page.context["cl"].date_hierarchy == "created_at"

    by_source = admin_client.get(EXAMPLES, {"source__exact": ExampleSource.ADMIN})
    assert [row.text for row in by_source.context["cl"].result_list] == ["관리자가 직접 넣은 예제"]
    by_label = admin_client.get(EXAMPLES, {"label": "security"})
    assert by_label.status_code == 200
    assert {row.label for row in by_label.context["cl"].result_list} == {"security"}
    assert len(by_label.context["cl"].result_list) == 8


def test_activate_action_rolls_back_to_an_older_version(admin_client, two_versions):
    first, second = two_versions

    response = admin_client.post(VERSIONS, {"action": "activate_version", "_selected_action": [first.pk]})

    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.active, second.active) == (True, None)
    assert first.activated_at is not None
    assert _messages(response) == [
        (messages.INFO, f"v{first.number} is now active; every server process switches within seconds.")
    ]


def test_activate_action_refuses_a_failed_version_and_keeps_the_active_one(admin_client, two_versions):
    _first, second = two_versions
    failed = failed_version(3)

    response = admin_client.post(VERSIONS, {"action": "activate_version", "_selected_action": [failed.pk]})

    [(level, text)] = _messages(response)
    assert level == messages.ERROR
    assert "v3" in text and "failed" in text
    assert ModelVersion.objects.get(active=True) == second
    failed.refresh_from_db()
    assert failed.active is None


def test_activate_action_wants_exactly_one_version(admin_client, two_versions):
    first, second = two_versions

    response = admin_client.post(VERSIONS, {"action": "activate_version", "_selected_action": [first.pk, second.pk]})

    assert _messages(response) == [(messages.ERROR, "Select exactly one version.")]
    assert ModelVersion.objects.get(active=True) == second


def test_change_page_shows_the_per_label_metrics_table(admin_client, trained_version):
    version = trained_version()
    per_label = version.metrics["per_label"]
    assert set(per_label) == {"error", "performance", "security"}

    page = admin_client.get(f"{VERSIONS}{version.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "<th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th>" in html
    for label, row in per_label.items():
        cells = f"<td>{label}</td><td>{row['precision']}</td><td>{row['recall']}</td><td>{row['f1']}</td>"
        assert f"<tr>{cells}<td>{row['support']}</td></tr>" in html
    # Every field is read-only: there is nothing to edit on a version.
    assert not page.context["adminform"].form.fields


def test_deleting_a_version_deletes_its_file(
    admin_client, two_versions, model_storage, django_capture_on_commit_callbacks
):
    first, second = two_versions
    assert (model_storage / first.artifact).is_file()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{VERSIONS}{first.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not ModelVersion.objects.filter(pk=first.pk).exists()
    assert not (model_storage / first.artifact).exists()
    assert (model_storage / second.artifact).is_file()


def test_delete_action_refuses_a_selection_with_the_active_version(
    admin_client, two_versions, model_storage, django_capture_on_commit_callbacks
):
    first, second = two_versions

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            VERSIONS, {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"}
        )

    assert response.status_code == 403
    assert ModelVersion.objects.count() == 2
    assert (model_storage / first.artifact).is_file() and (model_storage / second.artifact).is_file()


def test_delete_action_deletes_inactive_versions_and_their_files(
    admin_client, two_versions, model_storage, django_capture_on_commit_callbacks
):
    first, second = two_versions

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            VERSIONS, {"action": "delete_selected", "_selected_action": [first.pk], "post": "yes"}
        )

    assert response.status_code == 302
    assert list(ModelVersion.objects.all()) == [second]
    assert not (model_storage / first.artifact).exists()


def test_delete_page_refuses_the_active_version(admin_client, two_versions, model_storage):
    _first, second = two_versions

    assert admin_client.get(f"{VERSIONS}{second.pk}/delete/").status_code == 403
    response = admin_client.post(f"{VERSIONS}{second.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert ModelVersion.objects.filter(pk=second.pk, active=True).exists()
    assert (model_storage / second.artifact).is_file()


def test_adding_an_example_stores_its_digest_and_author(admin_client, admin_user):
    response = admin_client.post(
        f"{EXAMPLES}add/", {"text": "  디스크 사용률이 95%를 넘었습니다  ", "label": "capacity", "source": "admin"}
    )

    assert response.status_code == 302
    example = TrainingExample.objects.get()
    assert example.text == "디스크 사용률이 95%를 넘었습니다"
    assert example.text_sha256 == text_digest("디스크 사용률이 95%를 넘었습니다")
    assert (example.label, example.source, example.created_by) == ("capacity", ExampleSource.ADMIN, admin_user)


def test_editing_an_example_updates_its_digest(admin_client, admin_user):
    example = TrainingExample.objects.create(text="before", label="error", text_sha256=text_digest("before"))

    response = admin_client.post(
        f"{EXAMPLES}{example.pk}/change/", {"text": "after", "label": "error", "source": "upload"}
    )

    assert response.status_code == 302
    example.refresh_from_db()
    assert (example.text, example.text_sha256) == ("after", text_digest("after"))
    # The author of an example is who made it, not who last edited it.
    assert example.created_by is None


def test_adding_a_stored_text_again_is_refused(admin_client):
    TrainingExample.objects.create(text="같은 문장", label="error", text_sha256=text_digest("같은 문장"))

    response = admin_client.post(f"{EXAMPLES}add/", {"text": "같은 문장", "label": "error", "source": "admin"})

    # The form comes back with an error instead of a server error.
    assert response.status_code == 200
    assert response.context["errors"]
    assert TrainingExample.objects.count() == 1


def test_the_admin_says_what_was_decided_about_activation(admin_client, trained_version):
    first = trained_version(tokenizer="char")
    noise = [{"text": f"기타 문의 {n}", "label": "error" if n % 2 else "security"} for n in range(16)]
    examples_add(rows=list(enumerate(noise, start=1)), source=ExampleSource.UPLOAD)
    worse = trained_version(tokenizer="char")
    assert not worse.active and worse.activation["result"] == f"kept_active_v{first.number}"

    listing = admin_client.get(VERSIONS).content.decode()
    change = admin_client.get(f"{VERSIONS}{worse.pk}/change/").content.decode()

    assert "Kept v1 active" in listing and "No version was active" not in listing
    assert "Activated" in listing
    assert f"Macro F1 {worse.metrics['macro_f1']} is worse than the active v1&#x27;s" in change
    assert "v1 stays active" in change


def test_the_admin_reads_in_korean_too(admin_client, two_versions):
    first, _second = two_versions

    response = admin_client.post(
        VERSIONS, {"action": "activate_version", "_selected_action": [first.pk]}, HTTP_ACCEPT_LANGUAGE="ko"
    )
    page = admin_client.get(f"{VERSIONS}{first.pk}/change/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    assert _messages(response) == [
        (messages.INFO, f"v{first.number}을(를) 활성화했습니다. 서버 프로세스가 몇 초 안에 전환합니다.")
    ]
    assert "<th>레이블</th><th>정밀도</th><th>재현율</th><th>F1</th><th>표본 수</th>" in page
    assert "활성 버전이 없어 이 버전이 활성화되었습니다." in page
