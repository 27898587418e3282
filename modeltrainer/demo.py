"""Demo training data for `manage.py load_demo`: labelled operations and
experiment logs written for this project (modeltrainer/demo_data) and more
generated from templates (modeltrainer/synthetic), and a first model trained
on them, so predict and analyze-log answer at once."""

from pathlib import Path

from django.utils.translation import gettext as _

from . import synthetic
from .choices import ExampleSource, Trigger, VersionStatus
from .models import ModelVersion
from .services import examples, training

DEMO_FILE = Path(__file__).parent / "demo_data" / "examples.jsonl"
# Generated examples beside the written ones: enough that the held-out
# scores of the demo model say something.
GENERATED = 800


def load_demo_data(stdout) -> None:
    rows = examples.examples_parse(data=DEMO_FILE.read_bytes(), file_format="jsonl")
    generated = synthetic.examples(GENERATED, seed=11)
    rows += [(len(rows) + n, {"text": text, "label": label}) for n, (text, label) in enumerate(generated, start=1)]
    report = examples.examples_add(rows=rows, source=ExampleSource.DEMO)
    stdout.write(
        "  "
        + _(
            "%(accepted)d training examples added (%(duplicates)d already there or repeated): "
            "written for the demo, and generated from templates"
        )
        % {"accepted": report.accepted, "duplicates": report.duplicates}
    )
    if ModelVersion.objects.filter(status=VersionStatus.READY).exists():
        stdout.write("  " + _("a trained model version exists"))
        return
    version, created = training.model_version_train(trigger=Trigger.COMMAND, activate=True, enqueue=False)
    if created:
        version = training.model_version_run(version_id=version.pk)
    stdout.write(
        "  "
        + _("model v%(number)s: %(status)s, macro F1 %(f1)s")
        % {"number": version.number, "status": version.get_status_display(), "f1": version.metrics.get("macro_f1")}
    )
