"""Traffic pages; included at the site root by ``meshui.urls``."""

from django.urls import path

from traffic import views

urlpatterns = [
    path("changes", views.changes_page, name="traffic-changes-page"),
    path("istio-config", views.istio_config_page, name="istio-config-page"),
]
