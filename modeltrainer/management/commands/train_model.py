from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from tqdm import tqdm

from aiplatform.errors import DomainError
from modeltrainer import selectors
from modeltrainer.choices import ActivationRequest, ActivationResult, Algorithm, Tokenizer, Trigger, VersionStatus
from modeltrainer.services import training


class Command(BaseCommand):
    help = (
        "Train a new classifier version on all training examples, here and now, with a progress bar. By default "
        "(and with --activate) it becomes active unless its held-out macro F1 is worse than the active version's "
        "by more than MODEL_ACTIVATE_TOLERANCE; --force-activate activates it whatever its metrics, "
        "--no-activate leaves it inactive."
    )

    def add_arguments(self, parser):
        choice = parser.add_mutually_exclusive_group()
        choice.add_argument(
            "--activate",
            dest="activate",
            action="store_const",
            const=ActivationRequest.IF_BETTER,
            help="activate the version when it is ready, unless it is worse than the active one (the default)",
        )
        choice.add_argument(
            "--force-activate",
            dest="activate",
            action="store_const",
            const=ActivationRequest.ALWAYS,
            help="activate the version when it is ready, whatever its metrics",
        )
        choice.add_argument(
            "--no-activate",
            dest="activate",
            action="store_const",
            const=ActivationRequest.NEVER,
            help="leave the version inactive (activate it later in the admin, the page or the API)",
        )
        parser.set_defaults(activate=ActivationRequest.IF_BETTER)
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
            raise CommandError(
                _("v%(n)d is already %(status)s; wait for it to finish.")
                % {"n": version.number, "status": version.status}
            )
        with tqdm(total=100, desc=f"v{version.number}", unit="%", file=self.stderr) as bar:

            def progress(percent: int, stage: str) -> None:
                bar.set_postfix_str(stage)
                bar.update(max(percent - bar.n, 0))

            version = training.model_version_run(version_id=version.pk, progress=progress)
        if version.status != VersionStatus.READY:
            raise CommandError(_("v%(n)d failed: %(error)s") % {"n": version.number, "error": version.error})
        metrics = version.metrics
        activation = selectors.activation_view(version)
        # The outcome ends the one line on stdout (what serves now, and why
        # not when it is not this version); the reason goes beside the
        # progress bar on stderr in every case.
        if version.active:
            outcome = _("(active)")
        elif activation["result"] == ActivationResult.NOT_REQUESTED:
            outcome = _("(not activated; use --activate or the API)")
        else:
            outcome = _("(not activated: %(reason)s)") % {"reason": activation["reason"]}
        self.stderr.write(activation["reason"])
        self.stdout.write(
            _("v%(n)d ready: accuracy %(accuracy)s, macro F1 %(macro_f1)s, %(examples)d examples, %(s)s s")
            % {
                "n": version.number,
                "accuracy": metrics.get("accuracy"),
                "macro_f1": metrics.get("macro_f1"),
                "examples": version.example_count,
                "s": version.duration_s,
            }
            + f" {outcome}"
        )
