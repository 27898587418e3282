from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from aiplatform.errors import DomainError
from modeltrainer.choices import Algorithm, Tokenizer, Trigger, VersionStatus
from modeltrainer.services import training


class Command(BaseCommand):
    help = "Train a new classifier version on all training examples, here and now, with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("--activate", action="store_true", help="activate the version when it is ready")
        parser.add_argument("--algorithm", choices=Algorithm.values, default=Algorithm.LOGISTIC_REGRESSION)
        parser.add_argument("--tokenizer", choices=Tokenizer.values, default=Tokenizer.MORPHEME)

    def handle(self, *args, **options):
        try:
            version, created = training.model_version_train(
                trigger=Trigger.COMMAND,
                algorithm=options["algorithm"],
                tokenizer=options["tokenizer"],
                activate=options["activate"],
                enqueue=False,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if not created:
            raise CommandError(f"v{version.number} is already {version.status}; wait for it to finish.")
        with tqdm(total=100, desc=f"v{version.number}", unit="%", file=self.stderr) as bar:

            def progress(percent: int, stage: str) -> None:
                bar.set_postfix_str(stage)
                bar.update(max(percent - bar.n, 0))

            version = training.model_version_run(version_id=version.pk, progress=progress)
        if version.status != VersionStatus.READY:
            raise CommandError(f"v{version.number} failed: {version.error}")
        metrics = version.metrics
        self.stdout.write(
            f"v{version.number} ready: accuracy {metrics.get('accuracy')}, macro F1 {metrics.get('macro_f1')}, "
            f"{version.example_count} examples, {version.duration_s} s"
            + (" (active)" if version.active else " (not activated; use --activate or the API)")
        )
