"""Traces API routes; included under ``api/v1/`` by ``meshui.urls``."""

from django.urls import path

from traces.api.views import EdgeTracesView, ServiceTracesView, TraceDetailView

urlpatterns = [
    path(
        "namespaces/<str:namespace>/services/<str:service>/traces",
        ServiceTracesView.as_view(),
        name="api-service-traces",
    ),
    path("edges/traces", EdgeTracesView.as_view(), name="api-edge-traces"),
    path("traces/<str:trace_id>", TraceDetailView.as_view(), name="api-trace"),
]
