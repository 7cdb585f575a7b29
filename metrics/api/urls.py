from django.urls import path, re_path

from metrics.api.views import EntityDetailView, EntityListView, EntitySeriesView, HealthView, OverviewView

_KINDS = r"(?P<kinds>services|workloads|apps)"
_NS = r"(?P<namespace>[^/]+)"
_NAME = r"(?P<name>[^/]+)"

urlpatterns = [
    path("health", HealthView.as_view(), name="api-health"),
    path("overview", OverviewView.as_view(), name="api-overview"),
    re_path(rf"^namespaces/{_NS}/{_KINDS}$", EntityListView.as_view(), name="api-entity-list"),
    re_path(rf"^namespaces/{_NS}/{_KINDS}/{_NAME}$", EntityDetailView.as_view(), name="api-entity-detail"),
    re_path(rf"^namespaces/{_NS}/{_KINDS}/{_NAME}/metrics$", EntitySeriesView.as_view(), name="api-entity-series"),
]
