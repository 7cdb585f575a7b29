"""Property: any sequence of shifts, header routes, reverts, deletes and external edits keeps the
invariants, on every backend.

After each step: the weights in force sum to 100 (or there is no routing); a refused request
and a no-op changed nothing (store and audit); an applied change left the store holding exactly
its ``after_resources``. At the end the audit log is a chain (each change starts where the
previous ended unless an external edit came between) and replaying it reproduces the store.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.traffic.backends_fixture import audit_log, keyed
from traffic.backends import get_backend
from traffic.fetch import service_resources
from traffic.models import TrafficChange
from traffic.parse import parse_service

pytestmark = pytest.mark.django_db
NAMESPACE, SERVICE = "bookinfo", "reviews"
URL = f"/api/v1/namespaces/{NAMESPACE}/services/{SERVICE}/traffic"
SUBSETS = ("v1", "v2", "v3")
USERS = ("jason", "maria")
# Per backend: the whole file stays well under a minute for each (kubernetes speaks loopback HTTP).
EXAMPLES = 30


def _split(names: list[str], cuts: list[int]) -> dict[str, int]:
    edges = [0, *sorted(cuts), 100]
    return {name: edges[i + 1] - edges[i] for i, name in enumerate(names)}


valid_weights = st.lists(st.sampled_from(SUBSETS), min_size=1, max_size=3, unique=True).flatmap(
    lambda names: st.lists(st.integers(0, 100), min_size=len(names) - 1, max_size=len(names) - 1).map(
        lambda cuts: _split(names, cuts)))  # fmt: skip
any_weights = st.dictionaries(st.sampled_from(SUBSETS), st.integers(0, 100), min_size=1, max_size=3)
header_routes = st.one_of(st.none(), st.lists(st.tuples(st.sampled_from(USERS), st.sampled_from(SUBSETS)),
                                              min_size=1, max_size=2, unique_by=lambda r: r[0]))  # fmt: skip
steps = st.lists(
    st.one_of(
        st.tuples(st.just("shift"), st.one_of(valid_weights, any_weights)),
        st.tuples(st.just("routes"), header_routes),
        st.tuples(st.just("revert"), st.integers(0, 5)),
        st.tuples(st.just("delete"), st.none()),
        st.tuples(st.just("external"), st.sampled_from(SUBSETS)),
    ),
    min_size=1,
    max_size=7,
)


def _routes_body(routes: list[tuple[str, str]] | None) -> list[dict] | None:
    if routes is None:
        return None
    return [
        {"match": [{"headers": {"end-user": {"exact": user}}}], "weights": {subset: 100}} for user, subset in routes
    ]


def _mine(store) -> dict:
    """The service's resources in the store, keyed: what meshui reads for it."""
    return keyed(service_resources(parse_service(store.documents(), NAMESPACE, SERVICE)))


def _route_default_to(subset: str):
    def change(vs: dict) -> None:
        vs["spec"]["http"][-1]["route"] = [{"destination": {"host": f"{SERVICE}.{NAMESPACE}.svc.cluster.local",
                                                            "subset": subset}}]  # fmt: skip

    return change


def _run(step: tuple[str, object], store, operator) -> tuple[int | None, str | None, bool]:
    """Perform one step; returns (status, error code, whether it was an external edit that happened)."""
    kind, value = step
    if kind == "external":
        if ("VirtualService", NAMESPACE, SERVICE) not in _mine(store):
            return None, None, False
        store.edit("VirtualService", NAMESPACE, SERVICE, _route_default_to(value))
        return None, None, True
    if kind == "revert":
        changes = list(TrafficChange.objects.order_by("id"))
        if not changes:
            return None, None, False
        response = operator.post(f"/api/v1/changes/{changes[value % len(changes)].pk}/revert")
    elif kind == "delete":
        response = operator.delete(URL)
    else:
        body = {"weights": value} if kind == "shift" else {"routes": _routes_body(value)}
        response = operator.generic("PATCH", URL, json.dumps(body), content_type="application/json")
    error = response.json().get("error") or {}
    return response.status_code, error.get("code"), False


def _expected_statuses(step: tuple[str, object], version: str) -> set[int]:
    """The statuses the step may answer, judged before it runs."""
    kind, value = step
    if kind == "shift":
        return {200} if sum(value.values()) == 100 else {400}
    if kind == "revert":
        changes = list(TrafficChange.objects.order_by("id"))
        if not changes:
            return set()
        target = changes[value % len(changes)]
        # A revert may also be refused for re-introducing a problem a later change fixed.
        return {200, 400} if target.version_after == version else {409}
    return {200}


def _weights_in_force(store) -> list[dict[str, int]]:
    spec = parse_service(store.documents(), NAMESPACE, SERVICE).spec
    return [dict(spec.weights)] + [dict(route.weights) for route in spec.routes]


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(sequence=steps)
def test_any_sequence_of_changes_keeps_the_invariants_and_the_audit_replays_to_the_store(store, operator, sequence):
    # given an empty store and an empty audit log
    store.reset()
    TrafficChange.objects.all().delete()
    edited_since_last_change = False
    edits_between: list[bool] = []
    for step in sequence:
        version = get_backend().snapshot(NAMESPACE, SERVICE, fresh=True).version
        before = (store.native(), audit_log())
        expected = _expected_statuses(step, version)
        # when each step runs
        status, code, edited = _run(step, store, operator)
        # then
        if status is not None:
            assert status in expected, (step, status, code)
            changes = audit_log()
            if status != 200 or len(changes) == len(before[1]):
                assert (store.native(), audit_log()) == before, (step, status, code)
            else:
                assert len(changes) == len(before[1]) + 1
                assert keyed(changes[-1]["after_resources"]) == _mine(store)
                edits_between.append(edited_since_last_change)
                edited_since_last_change = False
        edited_since_last_change |= edited
        assert all(weights == {} or sum(weights.values()) == 100 for weights in _weights_in_force(store)), step
    # and the audit log is a chain: each change starts where the previous one ended...
    changes = audit_log()
    for previous, change, edited in zip(changes, changes[1:], edits_between[1:], strict=False):
        if not edited:
            assert keyed(change["before_resources"]) == keyed(previous["after_resources"])
            assert change["version_before"] == previous["version_after"]
    # ... and replaying it from the first change's before reproduces the store
    if changes and not edited_since_last_change:
        replayed = keyed(changes[0]["before_resources"])
        for change in changes:
            for key in keyed(change["before_resources"]):
                replayed.pop(key)
            replayed.update(keyed(change["after_resources"]))
        assert replayed == _mine(store)
