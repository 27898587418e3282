from django.urls import path

from . import views

app_name = "conversations"

urlpatterns = [path("", views.LogViewerView.as_view(), name="log-viewer")]
