from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction

from aiplatform import services
from aiplatform.choices import APIKeyScope
from aiplatform.errors import DomainError
from pathology.models import InferenceWorker


class Command(BaseCommand):
    help = (
        "Register an inference worker and print its API key (scope worker) once: the worker sends it as "
        "X-API-Key. Only the key's hash is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The worker's name, e.g. 'lab-gpu-01' (unique, at most 64 characters).")
        parser.add_argument("--expires-in-days", type=int, default=None)

    def handle(self, *args, name, expires_in_days, **options):
        name = name.strip()
        if not name or len(name) > 64:
            raise CommandError("A worker name has 1 to 64 characters.")
        if name == settings.PATHOLOGY_SERVER_WORKER:
            raise CommandError(f"{name!r} is the name of this server's own worker (PATHOLOGY_SERVER_WORKER).")
        if InferenceWorker.objects.filter(name=name).exists():
            raise CommandError(f"A worker named {name!r} already exists.")
        try:
            # The key and its worker together, or neither: no orphan key when the name is taken meanwhile.
            with transaction.atomic():
                api_key, secret = services.api_key_create(
                    name=name, scopes=[APIKeyScope.WORKER], expires_in_days=expires_in_days
                )
                worker = InferenceWorker.objects.create(name=name, api_key=api_key)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        except IntegrityError:
            raise CommandError(f"A worker named {name!r} already exists.") from None
        self.stderr.write(
            f"Created worker '{worker.name}' with API key prefix {api_key.prefix} (scope worker). "
            "Store the key now; it cannot be shown again."
        )
        self.stdout.write(secret)
