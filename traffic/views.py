"""Traffic pages: ``/changes`` (the audit log with revert buttons) and ``/istio-config``.

Both are rendered on the server from the same code the API uses (``TrafficChange`` rows and
``traffic.fetch.istio_config``); reverting is a ``POST /api/v1/changes/{id}/revert`` from the
page's script, so its checks (role, namespace, 409 with the diff) are the API's.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.roles import OPERATOR, has_role
from meshui.errors import first_validation_error
from traffic import fetch
from traffic.api.serializers import ChangesQuerySerializer, IstioConfigQuerySerializer, change_to_wire
from traffic.backends import get_backend
from traffic.models import TrafficChange


def _refusal(request: HttpRequest) -> HttpResponse | None:
    """The login redirect or 403 page for who may not read, as on the graph page; None when they may."""
    if not request.user.is_authenticated and not settings.ANONYMOUS_READ:
        return redirect_to_login(request.get_full_path())
    if request.user.is_authenticated and not settings.ANONYMOUS_READ and not has_role(request.user, "viewer"):
        return render(request, "topology/no_role.html", status=403)
    return None


def _query(request: HttpRequest, serializer_class: type) -> tuple[dict[str, Any], dict[str, str] | None]:
    """The valid query (empty values dropped) and, for a bad one, ``{"field", "message"}``."""
    data = {k: v for k, v in request.GET.items() if v != ""}
    query = serializer_class(data=data)
    if query.is_valid():
        return dict(query.validated_data), None
    field, message = first_validation_error(query.errors)
    return {}, {"field": field or "query", "message": message}


def _mark_reverts_and_later_changes(changes: list[dict[str, Any]]) -> None:
    """Add ``reverted_by`` and ``changed_since`` to each listed change (wire dict), in two queries.

    ``reverted_by``: the id of the first change that reverts it (the ``reverts`` relation), or
    None; such a change offers no Revert. ``changed_since``: the newest later change of the same
    service, or None: a hint that a revert is likely refused (409 with the diff) — still offered,
    since only the backend's current version decides.
    """
    ids = [c["id"] for c in changes]
    reverted_by: dict[int, int] = {}
    for reverted, by in TrafficChange.objects.filter(reverts_id__in=ids).order_by("id").values_list("reverts_id", "id"):
        reverted_by.setdefault(reverted, by)
    services = {(c["namespace"], c["service"]) for c in changes}
    newest = {
        (row["namespace"], row["service"]): row["newest"]
        for row in TrafficChange.objects.filter(
            namespace__in={ns for ns, _ in services}, service__in={svc for _, svc in services}
        )
        .values("namespace", "service")
        .annotate(newest=Max("id"))
    }
    for change in changes:
        change["reverted_by"] = reverted_by.get(change["id"])
        latest = newest.get((change["namespace"], change["service"]))
        change["changed_since"] = latest if latest is not None and latest > change["id"] else None


def changes_page(request: HttpRequest) -> HttpResponse:
    """``/changes?namespace=&service=&limit=``: applied changes, newest first, with diffs and revert.

    A bad filter answers the page with status 400 naming the parameter. Revert buttons are
    shown to operators and admins; others see the history and a sign-in hint.
    """
    refused = _refusal(request)
    if refused:
        return refused
    query, error = _query(request, ChangesQuerySerializer)
    rows = TrafficChange.objects.all()
    for name in ("namespace", "service"):
        if query.get(name):
            rows = rows.filter(**{name: query[name]})
    changes = [] if error else [change_to_wire(c) for c in rows[: query.get("limit", 100)]]
    _mark_reverts_and_later_changes(changes)
    for change in changes:
        change["when"] = change["time"][:19].replace("T", " ")
    context = {
        "changes": changes,
        "error": error,
        "namespace": request.GET.get("namespace", ""),
        "service": request.GET.get("service", ""),
        "can_write": has_role(request.user, OPERATOR) and not getattr(settings, "MESHUI_VIEW_ONLY", False),
    }
    return render(request, "traffic/changes.html", context, status=400 if error else 200)


def istio_config_page(request: HttpRequest) -> HttpResponse:
    """``/istio-config?namespace=``: every VirtualService/DestinationRule with its validations.

    A bad namespace answers status 400 naming it; resources with an error-level validation
    are listed first so broken routing is seen before it is touched. ``synced`` is the list's
    freshness (``fetch.freshness``; None on a bad query): the page says how old a cached list is.
    """
    refused = _refusal(request)
    if refused:
        return refused
    query, error = _query(request, IstioConfigQuerySerializer)
    backend = get_backend()
    synced = None if error else fetch.istio_config(backend, query.get("namespace"))
    resources = synced.pop("resources") if synced else []
    for resource in resources:
        severities = {v["severity"] for v in resource["validations"]}
        resource["status"] = "error" if "error" in severities else "warning" if "warning" in severities else "ok"
    order = {"error": 0, "warning": 1, "ok": 2}
    resources.sort(key=lambda r: (order[r["status"]], r["namespace"] or "", r["kind"] or "", r["name"] or ""))
    context = {
        "resources": resources,
        "error": error,
        "backend": backend.name,
        "synced": synced,
        "namespace": request.GET.get("namespace", ""),
        "counts": {status: sum(1 for r in resources if r["status"] == status) for status in order},
    }
    return render(request, "traffic/istio_config.html", context, status=400 if error else 200)
