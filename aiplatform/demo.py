import secrets

from django.contrib.auth import get_user_model

DEMO_USERNAME = "demo"


def load_demo_data(stdout) -> None:
    """A non-staff demo user, so that what ordinary users see can be tried
    next to the admin. The password is random and printed once."""
    User = get_user_model()
    if User.objects.filter(username=DEMO_USERNAME).exists():
        stdout.write(f"  user '{DEMO_USERNAME}' exists")
        return
    password = secrets.token_urlsafe(12)
    User.objects.create_user(username=DEMO_USERNAME, password=password, first_name="Demo")
    stdout.write(f"  created user '{DEMO_USERNAME}' / {password}  (shown only this once)")
