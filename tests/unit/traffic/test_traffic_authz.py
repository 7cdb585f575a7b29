"""Every write endpoint x every kind of caller x every backend: refused callers write nothing.

A refused request leaves the store's native content (rows and version counters; file bytes,
HEAD and git status; the API server's list bodies) and the audit log exactly as they were.
"""

from __future__ import annotations

import json
import logging

import pytest
from rest_framework.test import APIClient

from tests.unit.traffic.backends_fixture import audit_log
from traffic.models import TrafficChange
from traffic.parse import parse_service

pytestmark = pytest.mark.django_db
URL = "/api/v1/namespaces/bookinfo/services/reviews/traffic"
ENDPOINTS = ("patch", "delete", "revert")
# caller → (username, role, operator namespaces, view-only)
CALLERS = {
    "anonymous": (None, None, (), False),
    "viewer": ("vera", "viewer", (), False),
    "operator": ("otto", "operator", (), False),
    "admin": ("adele", "admin", (), False),
    "other-namespace": ("nina", "operator", ("shop",), False),
    "view-only": ("vince", "admin", (), True),
}
REFUSED = {
    "anonymous": (401, "not_authenticated"),
    "viewer": (403, "forbidden"),
    "other-namespace": (403, "forbidden"),
    "view-only": (403, "forbidden"),
}


def _seed_change(make_client) -> int:
    """Routing made through the API by a seed operator: reviews at v1 100; returns its change id."""
    seed = make_client("seed", "operator")
    response = seed.generic("PATCH", URL, json.dumps({"weights": {"v1": 100}}), content_type="application/json")
    assert response.status_code == 200, response.json()
    return response.json()["change_id"]


def _caller(make_client, settings, caller: str) -> APIClient:
    username, role, namespaces, view_only = CALLERS[caller]
    settings.MESHUI_VIEW_ONLY = view_only
    return APIClient() if username is None else make_client(username, role, namespaces)


def _write(client: APIClient, endpoint: str, change_id: int):
    if endpoint == "patch":
        return client.generic("PATCH", URL, json.dumps({"weights": {"v2": 100}}), content_type="application/json")
    if endpoint == "delete":
        return client.delete(URL)
    return client.post(f"/api/v1/changes/{change_id}/revert")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("caller", sorted(REFUSED))
def test_a_refused_caller_writes_nothing_to_the_store_or_the_audit(store, make_client, settings, caplog, endpoint,
                                                                   caller):  # fmt: skip
    # given routing made by a seed operator, and the store and audit log as they are
    change_id = _seed_change(make_client)
    before = (store.native(), audit_log())
    client = _caller(make_client, settings, caller)
    caplog.set_level(logging.WARNING, logger="traffic.refused")
    # when
    response = _write(client, endpoint, change_id)
    # then the exact refusal, nothing written anywhere, and one line on the refusal log
    status, code = REFUSED[caller]
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert (store.native(), audit_log()) == before
    path = URL if endpoint != "revert" else f"/api/v1/changes/{change_id}/revert"
    who = CALLERS[caller][0] or "anonymous"
    assert [r.getMessage() for r in caplog.records if r.name == "traffic.refused"] == [
        f"refused {'POST' if endpoint == 'revert' else endpoint.upper()} {path} by {who}: {status} {code}"
    ]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("caller", ["operator", "admin"])
def test_an_allowed_caller_writes_and_is_audited_as_themself(store, make_client, settings, endpoint, caller):
    # given routing made by a seed operator
    change_id = _seed_change(make_client)
    client = _caller(make_client, settings, caller)
    # when
    response = _write(client, endpoint, change_id)
    # then the store holds the change (reviews at v2; or no routing left) and the audit names the caller
    assert response.status_code == 200, response.json()
    parsed = parse_service(store.documents(), "bookinfo", "reviews")
    assert parsed.spec.weights == ({"v2": 100} if endpoint == "patch" else {})
    assert (parsed.vs is None, parsed.dr is None) == ((False, False) if endpoint == "patch" else (True, True))
    latest = TrafficChange.objects.order_by("-id").first()
    assert (latest.pk, latest.actor, latest.operation, latest.backend) == (
        response.json()["change_id"],
        CALLERS[caller][0],
        endpoint,
        store.name,
    )
    assert TrafficChange.objects.count() == 2
