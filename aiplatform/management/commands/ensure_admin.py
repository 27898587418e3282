from django.core.management.base import BaseCommand

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
                f"Admin user '{username}' already exists (password unchanged; "
                f"reset it with: manage.py changepassword {username})."
            )
            return
        self.stdout.write(self.style.SUCCESS(f"Admin user created: {username} / {password}  (shown only this once)"))
