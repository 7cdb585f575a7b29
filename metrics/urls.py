from django.urls import path, re_path

from metrics import views

urlpatterns = [
    path("overview", views.overview, name="metrics-overview"),
    re_path(r"^(?P<kinds>services|workloads|apps)$", views.entity_list, name="metrics-list"),
    re_path(
        r"^namespaces/(?P<namespace>[^/]+)/(?P<kinds>services|workloads|apps)/(?P<name>[^/]+)$",
        views.entity_detail,
        name="metrics-detail",
    ),
]
