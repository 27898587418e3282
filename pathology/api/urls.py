from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

app_name = "pathology-api"

# Every path answers with and without its trailing slash: without one,
# Django's APPEND_SLASH would answer a 301, and a client that follows it turns
# its POST into a GET. The unslashed forms are left out of the OpenAPI schema
# (schema=None), which lists each operation once, as the seed's clients call it.

VIEWSETS = [
    ("pathology/requests", views.PathologyRequestViewSet, "request"),
    ("pathology/workers", views.InferenceWorkerViewSet, "worker"),
]


def _routers() -> list:
    # Of two patterns with one name reverse() gives the later: the slashed one.
    unslashed, slashed = SimpleRouter(trailing_slash=False), SimpleRouter(trailing_slash=True)
    for prefix, viewset, basename in VIEWSETS:
        unslashed.register(prefix, type(viewset.__name__, (viewset,), {"schema": None}), basename=basename)
        slashed.register(prefix, viewset, basename=basename)
    return [*unslashed.urls, *slashed.urls]


def _both(route: str, view, name: str) -> list:
    return [path(route, view.as_view(schema=None)), path(f"{route}/", view.as_view(), name=name)]


urlpatterns = [
    *_both("pathology/analyze", views.AnalyzeView, "analyze"),
    *_both("pathology/pending-requests", views.PendingRequestsView, "pending-requests"),
    *_both("pathology/update-status/<uuid:request_id>", views.UpdateStatusView, "update-status"),
    *_both("pathology/complete-request/<uuid:request_id>", views.CompleteRequestView, "complete-request"),
    *_both("pathology/slide/<uuid:request_id>", views.SlideDownloadView, "slide"),
    *_routers(),
]
