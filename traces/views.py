"""The trace detail page: ``/traces/<trace_id>`` (span waterfall, tags, services in the trace).

The page is a shell: its script reads ``GET /api/v1/traces/{trace_id}``, so the page, the side
panel and scripts all see the same JSON and the same errors (a missing trace, Jaeger down or
not configured are shown on the page, never a server error).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from accounts.roles import has_role
from traces.api.params import TRACE_ID


def trace_page(request: HttpRequest, trace_id: str) -> HttpResponse:
    """The detail page of ``trace_id``; 400 (page) for an id that is not 1 to 32 hex digits.

    Anonymous visitors go to the login page unless anonymous read is on; a signed-in user
    without a role gets 403, as on the graph page.
    """
    if not request.user.is_authenticated and not settings.ANONYMOUS_READ:
        return redirect_to_login(request.get_full_path())
    if request.user.is_authenticated and not settings.ANONYMOUS_READ and not has_role(request.user, "viewer"):
        return render(request, "topology/no_role.html", status=403)
    valid = bool(TRACE_ID.match(trace_id))
    context = {
        "trace_id": trace_id.lower() if valid else trace_id[:64],
        "valid": valid,
        "api_trace_url": reverse("api-trace", args=[trace_id.lower()]) if valid else "",
        "graph_url": reverse("home"),
    }
    return render(request, "traces/trace.html", context, status=200 if valid else 400)
