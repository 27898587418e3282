"""Public probes. Plain Django views: no authentication, no session, no
throttling, so that load balancers and orchestrators can call them freely."""

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from aiplatform.health import readiness


@never_cache
@require_GET
def healthz(request):
    """Liveness: the process answers. Touches no database."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """Readiness: database reachable, migrations applied, task backend reachable."""
    ready, checks = readiness()
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    if not ready:
        body["failing"] = [name for name, result in checks.items() if not result["ok"]]
    return JsonResponse(body, status=200 if ready else 503)
