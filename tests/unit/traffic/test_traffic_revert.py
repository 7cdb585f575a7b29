"""Revert on every backend: a reverted change leaves the store as it was before the change; after an
external edit the revert is refused (409 ``revert_conflict`` with the diff) and writes nothing."""

from __future__ import annotations

import json

import pytest

from tests.unit.traffic.backends_fixture import audit_log
from tests.unit.traffic.test_traffic_gitops import HAND_WRITTEN
from traffic.backends import get_backend

pytestmark = pytest.mark.django_db
URL = "/api/v1/namespaces/bookinfo/services/reviews/traffic"


def _patch(client, body: dict):
    return client.generic("PATCH", URL, json.dumps(body), content_type="application/json")


def _route_everything_to_v2(vs: dict) -> None:
    vs["spec"]["http"][0]["route"] = [{"destination": {"host": "reviews", "subset": "v2"}}]


@pytest.mark.parametrize("start", ["hand-written", "empty"])
def test_a_reverted_change_leaves_the_store_as_it_was_before_the_change(store, operator, start):
    # given hand-written routing (or none), and a change by meshui
    if start == "hand-written":
        store.seed("apps/reviews.yaml", HAND_WRITTEN)
    before = (store.content(), store.documents())
    changed = _patch(operator, {"weights": {"v1": 50, "v2": 50}, "timeout": "2s"})
    assert changed.status_code == 200, changed.json()
    assert store.documents() != before[1]
    # when
    reverted = operator.post(f"/api/v1/changes/{changed.json()['change_id']}/revert")
    # then
    assert reverted.status_code == 200, reverted.json()
    assert (store.content(), store.documents()) == before
    assert (reverted.json()["weights"], reverted.json()["timeout"]) == ({"v1": 100} if before[1] else {}, None)
    changes = audit_log()
    assert [(c["operation"], c["reverts_id"]) for c in changes] == [("patch", None), ("revert", changes[0]["id"])]
    assert changes[1]["after_resources"] == changes[0]["before_resources"]


def test_a_revert_after_an_external_edit_is_409_with_the_diff_and_writes_nothing(store, operator):
    # given hand-written routing, a change by meshui that a reader then saw (kubernetes: a cached
    # read), then a hand edit of the VirtualService
    store.seed("apps/reviews.yaml", HAND_WRITTEN)
    changed = _patch(operator, {"weights": {"v1": 50, "v2": 50}})
    assert changed.status_code == 200, changed.json()
    assert operator.get(URL).json()["version"] == changed.json()["version"]
    store.edit("VirtualService", "bookinfo", "reviews", _route_everything_to_v2)
    before = (store.native(), audit_log())
    # when
    response = operator.post(f"/api/v1/changes/{changed.json()['change_id']}/revert")
    # then
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (409, "revert_conflict")
    assert (store.native(), audit_log()) == before
    assert error["details"]["version"] == get_backend().snapshot("bookinfo", "reviews", fresh=True).version
    # the diff goes from the routing now (the hand edit) to the change's before
    diff = error["details"]["diff"].splitlines()
    assert diff[:2] == ["--- before", "+++ after"]
    assert "-        subset: v2" in diff
    assert "+        subset: v1" in diff
