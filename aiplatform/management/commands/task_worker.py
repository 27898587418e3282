from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _


class Command(BaseCommand):
    help = (
        "Run the background task worker of the configured TASKS_BACKEND: db_worker for `db`, "
        "an RQ worker for `rq`. Extra options are not passed on; run those commands directly for them."
    )

    def handle(self, *args, **options):
        backend = settings.TASKS_BACKEND
        if backend == "db":
            call_command("db_worker")
        elif backend == "rq":
            call_command("rqworker", "default", job_class="django_tasks_rq.Job")
        else:
            raise CommandError(
                _("TASKS_BACKEND=%(backend)s runs tasks inside the request; there is no worker to start.")
                % {"backend": backend}
            )
