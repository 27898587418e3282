from django.urls import re_path
from rest_framework.routers import SimpleRouter

from . import views

app_name = "modeltrainer-api"

# The seed served these without a trailing slash; both forms work.
router = SimpleRouter()
router.trailing_slash = "/?"
router.register("model/versions", views.ModelVersionViewSet, basename="version")
router.register("model/examples", views.TrainingExampleViewSet, basename="example")

urlpatterns = [
    re_path(r"^model/status/?$", views.StatusView.as_view(), name="status"),
    re_path(r"^model/predict/?$", views.PredictView.as_view(), name="predict"),
    re_path(r"^model/train/?$", views.TrainView.as_view(), name="train"),
    re_path(r"^model/logs/recent/?$", views.RecentExamplesView.as_view(), name="logs-recent"),
    re_path(r"^model/upload/?$", views.UploadView.as_view(), name="upload"),
    re_path(r"^model/import-conversations/?$", views.ImportConversationsView.as_view(), name="import-conversations"),
    re_path(r"^model/analyze-log/?$", views.AnalyzeLogView.as_view(), name="analyze-log"),
    re_path(r"^model/metrics/?$", views.MetricsView.as_view(), name="metrics"),
    *router.urls,
]
