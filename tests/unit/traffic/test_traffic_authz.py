"""Every write endpoint x every kind of caller: refused callers write nothing."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from traffic.models import LocalResource, TrafficChange

pytestmark = pytest.mark.django_db
URL = "/api/v1/namespaces/bookinfo/services/reviews/traffic"


def _callers(make_client):
    return {
        "anonymous": (APIClient(), 401),
        "viewer": (make_client("v", "viewer"), 403),
        "operator": (make_client("o", "operator"), 200),
        "admin": (make_client("a", "admin"), 200),
        "other-namespace": (make_client("n", "operator", ("shop",)), 403),
    }


def _write(client, endpoint: str, change_id: int):
    if endpoint == "patch":
        return client.generic("PATCH", URL, json.dumps({"weights": {"v2": 100}}), content_type="application/json")
    if endpoint == "delete":
        return client.delete(URL)
    return client.post(f"/api/v1/changes/{change_id}/revert")


@pytest.mark.parametrize("endpoint", ["patch", "delete", "revert"])
@pytest.mark.parametrize("caller", ["anonymous", "viewer", "operator", "admin", "other-namespace", "view-only"])
def test_write_endpoints_refuse_callers_without_the_right(make_client, settings, endpoint, caller):
    # given routing made by a seed operator, and the caller
    seed = make_client("seed", "operator")
    seed.generic("PATCH", URL, json.dumps({"weights": {"v1": 100}}), content_type="application/json")
    change = TrafficChange.objects.get()
    before = (list(LocalResource.objects.values_list("body", flat=True)), TrafficChange.objects.count())
    callers = _callers(make_client)
    if caller == "view-only":
        settings.MESHUI_VIEW_ONLY = True
        client, expected = callers["admin"][0], 403
    else:
        client, expected = callers[caller]
    # when
    response = _write(client, endpoint, change.pk)
    # then
    assert response.status_code == expected, response.json()
    after = (list(LocalResource.objects.values_list("body", flat=True)), TrafficChange.objects.count())
    if expected == 200:
        assert after[1] == before[1] + 1
    else:
        assert after == before
        assert response.json()["error"]["code"] in ("not_authenticated", "forbidden")
