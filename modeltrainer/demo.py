"""Demo training data for `manage.py load_demo`: labelled operations and
experiment logs written for this project (modeltrainer/demo_data), and a
first model trained on them, so predict and analyze-log answer at once."""

from pathlib import Path

from .choices import ExampleSource, Trigger, VersionStatus
from .models import ModelVersion
from .services import examples, training

DEMO_FILE = Path(__file__).parent / "demo_data" / "examples.jsonl"


def load_demo_data(stdout) -> None:
    rows = examples.examples_parse(data=DEMO_FILE.read_bytes(), file_format="jsonl")
    report = examples.examples_add(rows=rows, source=ExampleSource.DEMO)
    stdout.write(f"  {report.accepted} training examples added ({report.duplicates} already there)")
    if ModelVersion.objects.filter(status=VersionStatus.READY).exists():
        stdout.write("  a trained model version exists")
        return
    version, created = training.model_version_train(trigger=Trigger.COMMAND, activate=True, enqueue=False)
    if created:
        version = training.model_version_run(version_id=version.pk)
    stdout.write(f"  model v{version.number}: {version.status}, macro F1 {version.metrics.get('macro_f1')}")
