"""Readiness checks: can this process serve requests right now?"""

import time
from collections.abc import Callable

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

_migrations_applied = False


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def check_migrations() -> dict:
    # Once every migration is applied it stays so for the life of the
    # process; the graph is not reloaded on every probe.
    global _migrations_applied
    if not _migrations_applied:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            raise RuntimeError(f"{len(plan)} migration(s) not applied, e.g. {plan[0][0]}")
        _migrations_applied = True
    return {}


def check_tasks() -> dict:
    from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
    from django_tasks_db import DatabaseBackend
    from django_tasks_rq import RQBackend

    backend = task_backends[DEFAULT_TASK_BACKEND_ALIAS]
    if isinstance(backend, DatabaseBackend):
        from django_tasks_db.models import DBTaskResult

        DBTaskResult.objects.order_by().values_list("pk", flat=True)[:1].exists()
    elif isinstance(backend, RQBackend):
        import django_rq

        django_rq.get_connection("default").ping()
    return {"backend": type(backend).__name__}


CHECKS: dict[str, Callable[[], dict]] = {
    "database": check_database,
    "migrations": check_migrations,
    "tasks": check_tasks,
}


def readiness() -> tuple[bool, dict]:
    """Run every check; a check that depends on a failed one is reported as
    skipped rather than failing a second time with a confusing message."""
    results: dict[str, dict] = {}
    for name, check in CHECKS.items():
        if name != "database" and not results["database"]["ok"]:
            results[name] = {"ok": False, "error": "skipped: database unreachable"}
            continue
        started = time.perf_counter()
        try:
            details = check()
        except Exception as exc:  # a probe reports every failure, whatever its type
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        else:
            results[name] = {"ok": True, **details}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 2)
    return all(r["ok"] for r in results.values()), results
