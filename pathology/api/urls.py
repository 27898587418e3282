from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

app_name = "pathology-api"

router = SimpleRouter()
router.register("pathology/requests", views.PathologyRequestViewSet, basename="request")
router.register("pathology/workers", views.InferenceWorkerViewSet, basename="worker")

# The seed's paths, exactly as its clients call them (with the trailing slash).
urlpatterns = [
    path("pathology/analyze/", views.AnalyzeView.as_view(), name="analyze"),
    path("pathology/pending-requests/", views.PendingRequestsView.as_view(), name="pending-requests"),
    path("pathology/update-status/<uuid:request_id>/", views.UpdateStatusView.as_view(), name="update-status"),
    path("pathology/complete-request/<uuid:request_id>/", views.CompleteRequestView.as_view(), name="complete-request"),
    *router.urls,
]
