"""URL map: pages, the versioned API, its schema, and the operational endpoints."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.views import signin_limited
from meshui import ops

urlpatterns = [
    path("", include("topology.urls")),
    path("", include("metrics.urls")),
    path("", include("traces.urls")),
    path("", include("traffic.urls")),
    path("", include("accounts.urls")),
    path("api/v1/", include("topology.api.urls")),
    path("api/v1/", include("traffic.api.urls")),
    path("api/v1/", include("metrics.api.urls")),
    path("api/v1/", include("traces.api.urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # Pages without meshui's <link rel="icon"> (the admin's) make browsers ask for /favicon.ico.
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    # Before admin.site.urls: its sign-in answers a lockout with 429 like /login/ (accounts.signin).
    path("admin/login/", signin_limited(admin.site.login)),
    path("admin/", admin.site.urls),
]

handler404 = "meshui.errors.handler404"
handler500 = "meshui.errors.handler500"
