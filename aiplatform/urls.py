from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from aiplatform import views

admin.site.site_header = "AI 플랫폼 관리"
admin.site.site_title = "AI 플랫폼"
admin.site.index_title = "관리 홈"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/", include("aiplatform.api.urls")),
    path("api/", include("conversations.api.urls")),
    path("api/", include("modeltrainer.api.urls")),
    path("api/", include("pathology.api.urls")),
    path("conversations/", include("conversations.urls")),
    path("model/", include("modeltrainer.urls")),
]

handler400 = "aiplatform.api.errors.bad_request"
handler403 = "aiplatform.api.errors.permission_denied"
handler404 = "aiplatform.api.errors.page_not_found"
handler500 = "aiplatform.api.errors.server_error"
