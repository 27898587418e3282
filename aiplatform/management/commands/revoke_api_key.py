from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from aiplatform import services
from aiplatform.errors import DomainError


class Command(BaseCommand):
    help = "Revoke an API key by its prefix (the part before the dot). Cannot be undone."

    def add_arguments(self, parser):
        parser.add_argument("--prefix", required=True)

    def handle(self, *args, prefix, **options):
        try:
            api_key = services.api_key_revoke(prefix=prefix)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            _("Revoked API key '%(name)s' (%(prefix)s).") % {"name": api_key.name, "prefix": api_key.prefix}
        )
