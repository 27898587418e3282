import secrets

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

DEMO_USERNAME = "demo"


def load_demo_data(stdout) -> None:
    """A non-staff demo user, so that what ordinary users see can be tried
    next to the admin. The password is random and printed once."""
    User = get_user_model()
    if User.objects.filter(username=DEMO_USERNAME).exists():
        stdout.write("  " + _("user '%(name)s' exists") % {"name": DEMO_USERNAME})
        return
    password = secrets.token_urlsafe(12)
    User.objects.create_user(username=DEMO_USERNAME, password=password, first_name="Demo")
    stdout.write(
        "  "
        + _("created user '%(name)s' / %(password)s  (shown only this once)")
        % {"name": DEMO_USERNAME, "password": password}
    )
