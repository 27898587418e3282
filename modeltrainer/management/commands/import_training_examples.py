from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from aiplatform.errors import DomainError
from modeltrainer.choices import ExampleSource
from modeltrainer.services import examples

BATCH = 5000


class Command(BaseCommand):
    help = "Import labelled examples from a .json (list), .jsonl or .csv file of {text, label} rows."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, **options):
        path: Path = options["file"]
        try:
            file_format = examples.upload_format(path.name)
            rows = examples.examples_parse(data=path.read_bytes(), file_format=file_format)
        except FileNotFoundError:
            raise CommandError(f"{path} does not exist") from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        total = examples.ImportReport()
        for start in tqdm(range(0, len(rows), BATCH), desc="rows", unit="batch", file=self.stderr):
            report = examples.examples_add(rows=rows[start : start + BATCH], source=ExampleSource.COMMAND)
            total.accepted += report.accepted
            total.duplicates += report.duplicates
            total.rejected.extend(report.rejected)
        for problem in total.rejected[:20]:
            self.stdout.write(f"  row {problem.row}, {problem.field}: {problem.reason}")
        self.stdout.write(f"{total.accepted} accepted, {total.duplicates} duplicates, {len(total.rejected)} rejected")
