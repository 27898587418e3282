"""Platform-level writes: API keys, admin bootstrap, task enqueueing."""

import datetime as dt
import secrets

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import TaskResult, default_task_backend

from aiplatform.choices import APIKeyScope
from aiplatform.errors import InvalidInput, NotFound
from aiplatform.models import PlatformAPIKey
from aiplatform.tasks import platform_selfcheck


def api_key_create(
    *, name: str, scopes: list[str], owner=None, expires_in_days: int | None = None
) -> tuple[PlatformAPIKey, str]:
    """Create a key and return it with its secret, which is shown only now:
    only a SHA-512 hash is stored."""
    if not name.strip():
        raise InvalidInput("A key needs a name.", field="name")
    if not scopes:
        raise InvalidInput("A key needs at least one scope.", field="scopes")
    unknown = sorted(set(scopes) - set(APIKeyScope.values))
    if unknown:
        raise InvalidInput(
            f"Unknown scope(s) {', '.join(unknown)}; known: {', '.join(APIKeyScope.values)}.", field="scopes"
        )
    expiry = timezone.now() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    return PlatformAPIKey.objects.create_key(
        name=name.strip()[:50], scopes=sorted(set(scopes)), owner=owner, expiry_date=expiry
    )


def api_key_revoke(*, prefix: str) -> PlatformAPIKey:
    updated = PlatformAPIKey.objects.filter(prefix=prefix, revoked=False).update(revoked=True)
    if not updated:
        raise NotFound(f"No active API key with prefix {prefix!r}.", field="prefix")
    return PlatformAPIKey.objects.get(prefix=prefix)


def admin_ensure(*, username: str, email: str = "") -> str | None:
    """Create the superuser if it does not exist. Returns the generated
    password (to be shown once), or None when the user already existed."""
    User = get_user_model()
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            return None
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email=email, password=password)
    return password


def selfcheck_enqueue(*, requested_by: int | None) -> TaskResult:
    return platform_selfcheck.enqueue(requested_by=requested_by)


def task_result_get(*, task_id: str) -> TaskResult:
    from django.core.exceptions import ValidationError
    from django_tasks.exceptions import TaskResultDoesNotExist

    try:
        return default_task_backend.get_result(task_id)
    except (TaskResultDoesNotExist, ValueError, ValidationError):
        raise NotFound(_("No task with id '%(id)s'.") % {"id": task_id}, field="task_id") from None
