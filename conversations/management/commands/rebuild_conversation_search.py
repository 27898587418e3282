from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _
from tqdm import tqdm

from conversations.models import ConversationLog
from conversations.services.logs import logs_search_terms_rebuild


class Command(BaseCommand):
    help = _("Derive the search terms of every conversation log again, after the text analysis changed.")

    def handle(self, *args, **options):
        with tqdm(total=ConversationLog.objects.count(), desc="logs", unit="log") as bar:
            done = [0]

            def progress(seen, _changed):
                bar.update(seen - done[0])
                done[0] = seen

            changed = logs_search_terms_rebuild(progress=progress)
        self.stdout.write(self.style.SUCCESS(_("Search terms of %(n)d logs changed.") % {"n": changed}))
