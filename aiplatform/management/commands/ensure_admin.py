from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from aiplatform import services


class Command(BaseCommand):
    help = "Create the admin superuser with a random password, printed once. Does nothing if it exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="")

    def handle(self, *args, username, email, **options):
        password = services.admin_ensure(username=username, email=email)
        if password is None:
            self.stdout.write(
                _(
                    "Admin user '%(name)s' already exists (password unchanged; "
                    "reset it with: manage.py changepassword %(name)s)."
                )
                % {"name": username}
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                _("Admin user created: %(name)s / %(password)s  (shown only this once)")
                % {"name": username, "password": password}
            )
        )
