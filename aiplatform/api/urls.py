from django.urls import path
from rest_framework_simplejwt.views import TokenRefreshView

from aiplatform.api import views

app_name = "platform-api"

urlpatterns = [
    path("auth/token/", views.TokenObtainView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path("me/", views.MeView.as_view(), name="me"),
    path("system/tasks/selfcheck/", views.SelfCheckTaskView.as_view(), name="task-selfcheck"),
    path("system/tasks/<str:result_id>/", views.TaskResultView.as_view(), name="task-result"),
]
