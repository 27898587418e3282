from django.urls import path

from . import views

app_name = "modeltrainer"

urlpatterns = [
    path("", views.ModelPageView.as_view(), name="page"),
    # The former metrics page: the same page, whose metrics section it was.
    path("metrics/", views.ModelPageView.as_view(), name="metrics"),
]
