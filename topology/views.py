"""Pages of the topology app: ``/`` is the live service graph (docs/decisions/0007-graph-page.md)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from rest_framework.exceptions import ValidationError

from accounts.roles import has_role
from meshui.errors import first_validation_error, mapping_of
from topology import service
from topology.api.params import parse_graph_request
from topology.graph.errors import UpstreamError, UpstreamNotConfigured

# Query parameters of the page that are also parameters of GET /api/v1/graph; the page's own
# (refresh, labels, find, hide, layout, display toggles) stay in the browser.
_API_PARAMS = ("namespaces", "graph_type", "window", "query_time")

# What the browser's websocket client connects to (docs/decisions/0005-live-graph-protocol.md).
GRAPH_WS_PATH = "/ws/graph/"


def _api_query(request: HttpRequest) -> dict[str, str]:
    query = {name: request.GET[name] for name in _API_PARAMS if request.GET.get(name, "") != ""}
    if request.GET.get("idle", "").lower() in ("1", "true", "on", "yes"):
        query["include_idle"] = "true"
    return query


def upstream_error_code(exc: Exception) -> str:
    """The API's error code for an upstream failure (one mapping, in ``meshui.errors``)."""
    mapping = mapping_of(exc)
    return mapping.code if mapping else "upstream_error"


def home(request: HttpRequest) -> HttpResponse:
    """The service graph of the view named by the query string (the API's defaults otherwise).

    The first graph is read here and handed to the page with ``json_script`` (id
    ``graph-initial``: ``{"graph": <API body> | null, "error": {code, message, field} | null}``)
    so the page draws without waiting for the websocket. States: a graph (possibly empty),
    ``not_configured`` (no telemetry source), ``upstream_error`` (the source failed; the page
    keeps retrying) and ``invalid_parameter`` (a bad view in the URL: status 400, the field named).

    Anonymous visitors are sent to the login page unless anonymous read is on; a signed-in
    user without a role gets 403.
    """
    if not request.user.is_authenticated and not settings.ANONYMOUS_READ:
        return redirect_to_login(request.get_full_path())
    if request.user.is_authenticated and not settings.ANONYMOUS_READ and not has_role(request.user, "viewer"):
        return render(request, "topology/no_role.html", status=403)
    initial: dict[str, Any] = {"graph": None, "error": None}
    state = "graph"
    status = 200
    try:
        initial["graph"] = service.read_graph(parse_graph_request(_api_query(request)))
    except ValidationError as exc:
        field, message = first_validation_error(exc.detail)
        initial["error"] = {"code": "invalid_parameter", "message": message, "field": field}
        state, status = "invalid_parameter", 400
    except UpstreamNotConfigured as exc:
        initial["error"] = {"code": upstream_error_code(exc), "message": str(exc), "field": None}
        state = "not_configured"
    except UpstreamError as exc:
        initial["error"] = {"code": upstream_error_code(exc), "message": str(exc), "field": None}
        state = "upstream_error"
    context = {
        "initial": initial,
        "state": state,
        "api_graph_url": reverse("api-graph"),
        "api_namespaces_url": reverse("api-namespaces"),
        "ws_url": GRAPH_WS_PATH,
    }
    return render(request, "topology/graph.html", context, status=status)
