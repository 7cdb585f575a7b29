"""The metrics pages: overview, lists and detail pages (docs/decisions/0011-metrics-pages.md).

Pages are shells that read nothing upstream: the browser fetches the metrics API and polls it
every refresh interval, so a page renders at once even when Prometheus is down or hanging,
and each part says for itself what failed.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.roles import has_role
from metrics.api.params import NAME_PATTERN
from topology.api.params import DNS1123_LABEL

KINDS = {"services": "service", "workloads": "workload", "apps": "app"}
WINDOWS = ("1m", "5m", "10m", "30m", "1h", "3h", "6h", "12h", "1d")


def _denied(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated and not settings.ANONYMOUS_READ:
        return redirect_to_login(request.get_full_path())
    if request.user.is_authenticated and not settings.ANONYMOUS_READ and not has_role(request.user, "viewer"):
        return render(request, "topology/no_role.html", status=403)
    return None


def overview(request: HttpRequest) -> HttpResponse:
    """``/overview``: one card per namespace."""
    return _denied(request) or render(
        request, "metrics/overview.html", {"page": "overview", "windows": WINDOWS, "default_window": "5m"}
    )


def entity_list(request: HttpRequest, kinds: str) -> HttpResponse:
    """``/services``, ``/workloads``, ``/apps``: every entity of the chosen namespaces."""
    return _denied(request) or render(
        request,
        "metrics/list.html",
        {"page": "list", "kinds": kinds, "kind": KINDS[kinds], "windows": WINDOWS, "default_window": "5m"},
    )


def entity_detail(request: HttpRequest, namespace: str, kinds: str, name: str) -> HttpResponse:
    """``/namespaces/<ns>/<kinds>/<name>``: identity, health, neighbours and charts."""
    if not DNS1123_LABEL.match(namespace) or not NAME_PATTERN.match(name):
        raise Http404("no such page")
    return _denied(request) or render(
        request,
        "metrics/detail.html",
        {
            "page": "detail",
            "kinds": kinds,
            "kind": KINDS[kinds],
            "namespace": namespace,
            "name": name,
            "grafana_url": settings.GRAFANA_URL,
            "windows": WINDOWS,
            "default_window": "30m",
        },
    )
