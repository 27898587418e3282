from django.urls import re_path
from rest_framework.routers import SimpleRouter

from . import views

app_name = "conversations-api"

# Seed clients call these paths without a trailing slash; both forms work.
router = SimpleRouter()
router.trailing_slash = "/?"
router.register("conversation/logs", views.ConversationLogViewSet, basename="log")
router.register("conversation/documents", views.DocumentViewSet, basename="document")

urlpatterns = [
    re_path(r"^rag-chat/?$", views.RagChatView.as_view(), name="rag-chat"),
    re_path(r"^conversation/stats/?$", views.ConversationStatsView.as_view(), name="stats"),
    *router.urls,
]
