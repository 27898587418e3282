from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from aiplatform import services
from aiplatform.choices import APIKeyScope
from aiplatform.errors import DomainError


class Command(BaseCommand):
    help = "Create an API key and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="What the key is for, e.g. 'lab-gpu-01'.")
        parser.add_argument(
            "--scope",
            action="append",
            required=True,
            choices=APIKeyScope.values,
            help="Repeatable. service: general API as the owner; worker: pathology worker endpoints only; "
            "monitoring:control: monitoring actions; model:train: training data, training and model versions.",
        )
        parser.add_argument("--owner", help="Username the key acts as (for the service scope).")
        parser.add_argument("--expires-in-days", type=int, default=None)

    def handle(self, *args, name, scope, owner, expires_in_days, **options):
        owner_user = None
        if owner:
            try:
                owner_user = get_user_model().objects.get(username=owner)
            except get_user_model().DoesNotExist:
                raise CommandError(_("No user named %(name)r.") % {"name": owner}) from None
        try:
            api_key, secret = services.api_key_create(
                name=name, scopes=scope, owner=owner_user, expires_in_days=expires_in_days
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            _(
                "Created API key '%(name)s' (prefix %(prefix)s, scopes %(scopes)s). "
                "Store it now; it cannot be shown again."
            )
            % {"name": api_key.name, "prefix": api_key.prefix, "scopes": ", ".join(api_key.scopes)}
        )
        self.stdout.write(secret)
