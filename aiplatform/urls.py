from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.i18n import JavaScriptCatalog, set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from aiplatform import pages, views

admin.site.site_header = _("AI Platform administration")
admin.site.site_title = _("AI Platform")
admin.site.index_title = _("Administration home")

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("", pages.HomeView.as_view(), name="home"),
    path("accounts/login/", pages.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", pages.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password_change/done/", pages.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("guide/<slug:name>/", pages.GuideView.as_view(), name="guide"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/", include("aiplatform.api.urls")),
    path("api/", include("conversations.api.urls")),
    path("api/", include("modeltrainer.api.urls")),
    path("api/", include("pathology.api.urls")),
    path("conversations/", include("conversations.urls")),
    path("model/", include("modeltrainer.urls")),
    path("pathology/", include("pathology.urls")),
]

handler400 = "aiplatform.api.errors.bad_request"
handler403 = "aiplatform.api.errors.permission_denied"
handler404 = "aiplatform.api.errors.page_not_found"
handler500 = "aiplatform.api.errors.server_error"
