from django.urls import path, re_path

from metrics.api.views import KINDS, EntityDetailView, EntityListView, EntitySeriesView, HealthView, OverviewView

# A group around the alternatives: anchored as ^…$ (as drf-spectacular does with a path
# parameter's pattern), "services|workloads|apps" would let "servicesXYZ" through.
_KINDS = rf"(?P<kinds>(?:{'|'.join(KINDS)}))"
_NS = r"(?P<namespace>[^/]+)"
_NAME = r"(?P<name>[^/]+)"

urlpatterns = [
    path("health", HealthView.as_view(), name="api-health"),
    path("overview", OverviewView.as_view(), name="api-overview"),
    re_path(rf"^namespaces/{_NS}/{_KINDS}$", EntityListView.as_view(), name="api-entity-list"),
    re_path(rf"^namespaces/{_NS}/{_KINDS}/{_NAME}$", EntityDetailView.as_view(), name="api-entity-detail"),
    re_path(rf"^namespaces/{_NS}/{_KINDS}/{_NAME}/metrics$", EntitySeriesView.as_view(), name="api-entity-series"),
]
