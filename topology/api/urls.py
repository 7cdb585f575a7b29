from django.urls import path

from topology.api.views import GraphView, NamespaceListView

urlpatterns = [
    path("graph", GraphView.as_view(), name="api-graph"),
    path("namespaces", NamespaceListView.as_view(), name="api-namespaces"),
]
