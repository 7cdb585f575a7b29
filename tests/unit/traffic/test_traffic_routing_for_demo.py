"""The local change log as the demo's routing history."""

from __future__ import annotations

from demo.simulate import Abort, Delay, RoutingPolicy
from traffic.routing_for_demo import history_from_states


def test_states_become_routing_policies_by_version_oldest_first():
    # given two changes of reviews, recorded out of order
    split = {"subsets": [{"name": "canary", "labels": {"version": "v3"}}, {"name": "v1", "labels": {"version": "v1"}}],
             "weights": {"v1": 90, "canary": 10}, "timeout": "500ms",
             "fault": {"abort": {"http_status": 503, "percent": 5.0}, "delay": {"fixed_delay": "2s", "percent": 1.0}}}
    cleared = {"subsets": [], "weights": {}, "fault": None, "timeout": None}
    # when
    history = history_from_states([(200.0, "bookinfo", "reviews", cleared), (100.0, "bookinfo", "reviews", split)])
    # then
    assert history == {("bookinfo", "reviews"): [
        (100.0, RoutingPolicy(weights={"v1": 90.0, "v3": 10.0}, abort=Abort(5.0, 503), delay=Delay(1.0, 2000.0),
                              timeout_ms=500.0)),
        (200.0, RoutingPolicy()),
    ]}  # fmt: skip
