"""Training examples: uploads parsed and validated row by row, stored once
per (text, label), conversation logs imported with their lineage."""

import json

import pytest
from django.utils import timezone

from aiplatform.errors import InvalidInput
from conversations.selectors import logs_rated
from conversations.services.logs import log_feedback_set, log_record
from modeltrainer.choices import ExampleSource
from modeltrainer.models import TrainingExample
from modeltrainer.services import examples


def rows_of(*items):
    return list(enumerate(items, start=1))


def test_rows_are_validated_one_by_one(db, settings):
    settings.MODEL_TEXT_MAX_CHARS = 20
    report = examples.examples_add(
        rows=rows_of(
            {"text": "로그인 실패", "label": "error"},
            {"text": "  ", "label": "error"},
            {"text": "x" * 21, "label": "error"},
            {"text": "ok", "label": ""},
            {"text": "ok", "label": "l" * 65},
            {"text": "numeric label", "label": 3},
            "not an object",
        ),
        source=ExampleSource.UPLOAD,
    )

    assert report.accepted == 2
    assert [(p.row, p.field) for p in report.rejected] == [
        (2, "text"),
        (3, "text"),
        (4, "label"),
        (5, "label"),
        (7, "row"),
    ]
    assert "20" in report.rejected[1].reason
    assert sorted(TrainingExample.objects.values_list("label", flat=True)) == ["3", "error"]


def test_the_same_text_and_label_is_stored_once(db):
    first = examples.examples_add(
        rows=rows_of({"text": "a", "label": "x"}, {"text": "a", "label": "x"}), source="upload"
    )
    again = examples.examples_add(
        rows=rows_of({"text": "a", "label": "x"}, {"text": "a", "label": "y"}), source="upload"
    )

    assert (first.accepted, first.duplicates) == (1, 1)
    assert (again.accepted, again.duplicates) == (1, 1)  # the same text with another label is data
    assert TrainingExample.objects.count() == 2


@pytest.mark.parametrize(
    ("file_format", "data"),
    [
        ("json", json.dumps([{"text": "하나", "label": "a"}, {"text": "둘", "label": "b"}]).encode()),
        ("jsonl", '{"text": "하나", "label": "a"}\n\n{"text": "둘", "label": "b"}\n{broken\n'.encode()),
        ("csv", "\ufefftext,label\n하나,a\n둘,b\n".encode()),
    ],
)
def test_files_parse_to_numbered_rows(file_format, data):
    rows = examples.examples_parse(data=data, file_format=file_format)

    assert [row for _n, row in rows][:2] == [{"text": "하나", "label": "a"}, {"text": "둘", "label": "b"}]
    if file_format == "jsonl":
        assert rows[-1] == (4, None)  # the broken line is reported by its number
    if file_format == "csv":
        assert [n for n, _row in rows] == [2, 3]  # line numbers as a spreadsheet shows them


@pytest.mark.parametrize(
    ("file_format", "data", "code"),
    [
        ("json", b"{not json", "parse_error"),
        ("json", b'{"text": "a"}', "invalid"),
        ("csv", b"words,tags\na,b\n", "parse_error"),
        ("jsonl", b"\xff\xfe\x00binary", "not_text"),
    ],
)
def test_unreadable_files_are_a_400_naming_the_file(file_format, data, code):
    with pytest.raises(InvalidInput) as caught:
        examples.examples_parse(data=data, file_format=file_format)
    assert (caught.value.field, caught.value.code) == ("file", code)


def test_file_size_and_type_are_checked(settings):
    settings.MODEL_UPLOAD_MAX_BYTES = 10
    with pytest.raises(InvalidInput) as caught:
        examples.examples_parse(data=b"x" * 11, file_format="csv")
    assert caught.value.code == "too_large"
    with pytest.raises(InvalidInput) as caught:
        examples.upload_format("model.pkl")
    assert (caught.value.field, caught.value.code) == ("file", "unsupported_type")
    assert examples.upload_format("DATA.JSONL") == "jsonl"


def _rated_log(question, answer, rating):
    log = log_record(
        account=None,
        user_id="u",
        question=question,
        answer=answer,
        status="completed",
        latency_ms=5,
        created_at=timezone.now(),
    )
    return log_feedback_set(log=log, rating=rating)


def test_rated_conversation_logs_become_examples_once(db):
    good = _rated_log("비밀번호를 바꾸려면?", "설정에서 바꿉니다.", 1)
    bad = _rated_log("환불 기간은?", "모르겠습니다.", -1)
    log_record(account=None, user_id="u", question="unrated", answer="", status="completed", latency_ms=5)

    report = examples.examples_import_conversations(
        logs=logs_rated(), text_field="question", label_up="helpful", label_down="unhelpful"
    )
    again = examples.examples_import_conversations(
        logs=logs_rated(), text_field="question", label_up="helpful", label_down="unhelpful"
    )

    assert (report.accepted, report.duplicates) == (2, 0)
    assert (again.accepted, again.duplicates) == (0, 2)
    stored = {e.conversation_log_id: (e.text, e.label, e.source) for e in TrainingExample.objects.all()}
    assert stored == {
        good.pk: ("비밀번호를 바꾸려면?", "helpful", "conversation"),
        bad.pk: ("환불 기간은?", "unhelpful", "conversation"),
    }


def test_import_takes_one_rating_and_the_answer_when_asked(db):
    _rated_log("q1", "a1", 1)
    _rated_log("q2", "a2", -1)

    report = examples.examples_import_conversations(
        logs=logs_rated(rating=-1), text_field="both", label_up="good", label_down="bad"
    )

    assert report.accepted == 1
    assert TrainingExample.objects.get().text == "q2\na2"
