from django.core.management.base import BaseCommand

from pathology.services import protocol


class Command(BaseCommand):
    help = (
        "Return requests whose lease ran out to the queue (or fail them after max_attempts). Polling workers "
        "do this themselves; run it from cron when none may be polling."
    )

    def handle(self, *args, **options):
        requeued, failed = protocol.leases_reap()
        self.stdout.write(f"{requeued} requeued, {failed} failed")
