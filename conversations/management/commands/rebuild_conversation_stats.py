from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _
from tqdm import tqdm

from conversations.models import ConversationLog
from conversations.rollups import rollups_rebuild


class Command(BaseCommand):
    help = "Recompute the daily conversation rollups (stats) from the logs, for repair or after a bulk load."

    def handle(self, *args, **options):
        with tqdm(total=ConversationLog.objects.count(), desc="logs", unit="log") as bar:
            count = rollups_rebuild(progress=bar.update)
        self.stdout.write(self.style.SUCCESS(_("Rollups rebuilt from %(n)d logs.") % {"n": count}))
