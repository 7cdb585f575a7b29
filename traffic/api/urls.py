"""Traffic API routes, included under ``api/v1/``."""

from django.urls import path

from traffic.api import views

urlpatterns = [
    path(
        "namespaces/<str:namespace>/services/<str:service>/traffic",
        views.ServiceTrafficView.as_view(),
        name="service-traffic",
    ),
    path("changes", views.ChangeListView.as_view(), name="traffic-changes"),
    path("changes/<int:change_id>/revert", views.ChangeRevertView.as_view(), name="traffic-change-revert"),
    path("istio-config", views.IstioConfigView.as_view(), name="istio-config"),
]
