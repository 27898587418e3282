from django.urls import path

from . import views

app_name = "modeltrainer"

urlpatterns = [path("metrics/", views.MetricsPageView.as_view(), name="metrics")]
