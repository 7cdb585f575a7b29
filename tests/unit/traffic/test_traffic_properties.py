"""Property: any sequence of shifts, reverts and external edits keeps the invariants."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traffic import actions
from traffic.backends.local import LocalBackend
from traffic.errors import InvalidTraffic, RevertConflict
from traffic.models import LocalResource, LocalServiceVersion, TrafficChange
from traffic.parse import parse_service

SUBSETS = ["v1", "v2", "v3"]
weights = st.dictionaries(st.sampled_from(SUBSETS), st.integers(0, 100), min_size=1, max_size=3)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("shift"), weights),
        st.tuples(st.just("revert"), st.integers(0, 5)),
        st.tuples(st.just("external"), st.sampled_from(SUBSETS)),
    ),
    max_size=6,
)


def _state() -> dict:
    resources = list(LocalResource.objects.values_list("body", flat=True))
    return {k: v for k, v in sorted(((r["kind"], r["metadata"]["name"]), r) for r in resources)}


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=steps)
def test_shift_revert_and_external_edits_keep_the_invariants(sequence):
    # given an empty local backend
    LocalResource.objects.all().delete()
    TrafficChange.objects.all().delete()
    LocalServiceVersion.objects.all().delete()
    backend = LocalBackend()
    actor = actions.Actor(None, "prop", "session")
    for kind, value in sequence:
        # when each step runs
        try:
            if kind == "shift":
                actions.change_traffic(backend, "bookinfo", "reviews", {"weights": value}, actor=actor)
            elif kind == "revert":
                change = TrafficChange.objects.order_by("id")[value:value + 1].first()
                if change is not None:
                    actions.revert_change(backend, change, actor=actor)
            else:
                vs = LocalResource.objects.filter(kind="VirtualService").first()
                if vs is not None:
                    vs.body["spec"]["http"][-1]["route"] = [
                        {"destination": {"host": "reviews.bookinfo.svc.cluster.local", "subset": value}}]
                    vs.save()
                    LocalServiceVersion.objects.filter(service="reviews").update(counter=999 + vs.pk)
        except (InvalidTraffic, RevertConflict):
            if kind == "shift":
                assert sum(value.values()) != 100
        # then the weights in force sum to 100 (or there is no routing)
        parsed = parse_service(list(LocalResource.objects.values_list("body", flat=True)), "bookinfo", "reviews")
        assert parsed.spec.weights == {} or sum(parsed.spec.weights.values()) == 100
    # and replaying the audit's after-resources of the last change reproduces the state
    last = TrafficChange.objects.order_by("-id").first()
    if last is not None and not any(k == "external" for k, _ in sequence):
        replayed = {(r["kind"], r["metadata"]["name"]): r for r in last.after_resources}
        assert replayed == _state()
