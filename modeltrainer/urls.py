from django.urls import path

from . import views

app_name = "modeltrainer"

urlpatterns = [
    path("", views.ModelPageView.as_view(), name="page"),
    path("metrics/", views.MetricsPageView.as_view(), name="metrics"),
]
