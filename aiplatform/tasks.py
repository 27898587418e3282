import os
import socket

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django_tasks import task


@task()
def platform_selfcheck(requested_by: int | None = None) -> dict:
    """Proves the task pipeline end to end: runs in the worker, touches the
    database, and returns where and when it ran."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "database": connection.vendor,
        "users": get_user_model().objects.count(),
        "requested_by": requested_by,
        # In TIME_ZONE, as every time the API returns.
        "ran_at": timezone.localtime().isoformat(),
    }
