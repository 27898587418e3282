"""Database helpers shared by the apps."""

from django.db import IntegrityError, OperationalError

# MySQL/MariaDB: deadlock found (1213), lock wait timeout (1205). Both undo
# the statement or transaction; running it again is the documented remedy.
_RETRYABLE_MYSQL = {1205, 1213}


def is_write_race(exc: Exception) -> bool:
    """Whether a failed write lost a race with a concurrent one (a unique
    key taken meanwhile, or InnoDB choosing it as a deadlock victim), so
    that reading the new state or trying again is the right answer."""
    if isinstance(exc, IntegrityError):
        return True
    return isinstance(exc, OperationalError) and bool(exc.args) and exc.args[0] in _RETRYABLE_MYSQL
