"""The local change log as the demo's routing history."""

from __future__ import annotations

from demo.simulate import Abort, Delay, HeaderCondition, MatchBlock, MatchRoute, RoutingPolicy
from traffic.routing_for_demo import history_from_states, policy_of


def test_states_become_routing_policies_by_version_oldest_first():
    # given two changes of reviews, recorded out of order
    split = {
        "subsets": [{"name": "canary", "labels": {"version": "v3"}}, {"name": "v1", "labels": {"version": "v1"}}],
        "weights": {"v1": 90, "canary": 10},
        "timeout": "500ms",
        "fault": {"abort": {"http_status": 503, "percent": 5.0}, "delay": {"fixed_delay": "2s", "percent": 1.0}},
    }
    cleared = {"subsets": [], "weights": {}, "fault": None, "timeout": None}
    # when
    history = history_from_states([(200.0, "bookinfo", "reviews", cleared), (100.0, "bookinfo", "reviews", split)])
    # then
    assert history == {("bookinfo", "reviews"): [
        (100.0, RoutingPolicy(weights={"v1": 90.0, "v3": 10.0}, abort=Abort(5.0, 503), delay=Delay(1.0, 2000.0),
                              timeout_ms=500.0)),
        (200.0, RoutingPolicy()),
    ]}  # fmt: skip


def test_match_routes_become_header_routes_by_version_in_order():
    # given the canary pattern and Bookinfo's jason route, with subsets named apart from versions
    state = {"subsets": [{"name": "old", "labels": {"version": "v1"}}, {"name": "new", "labels": {"version": "v3"}},
                         {"name": "v2", "labels": {"version": "v2"}}],
             "weights": {"old": 100},
             "routes": [{"match": [{"headers": {"x-group": {"exact": "test"}}}], "weights": {"new": 100}},
                        {"match": [{"headers": {"end-user": {"prefix": "ja"}, "x-group": {"regex": "b.*"}}},
                                   {"withoutHeaders": {"end-user": {"regex": ".*"}}, "ignoreUriCase": True}],
                         "weights": {"v2": 50, "new": 50}}]}  # fmt: skip
    # when
    policy = policy_of(state)
    # then
    test = MatchBlock((HeaderCondition("x-group", "exact", "test"),))
    ja_b = MatchBlock((HeaderCondition("end-user", "prefix", "ja"), HeaderCondition("x-group", "regex", "b.*")))
    anonymous = MatchBlock((HeaderCondition("end-user", "regex", ".*", negated=True),))
    assert policy == RoutingPolicy(
        weights={"v1": 100.0},
        routes=(MatchRoute((test,), {"v3": 100.0}), MatchRoute((ja_b, anonymous), {"v2": 50.0, "v3": 50.0})),
    )


def test_match_blocks_with_conditions_other_than_headers_are_kept_as_never_matching():
    # given a route whose block tests the uri and the method besides a header
    state = {"subsets": [], "weights": {},
             "routes": [{"match": [{"uri": {"prefix": "/api"}, "method": {"exact": "GET"},
                                    "headers": {"x-group": {"exact": "test"}}}], "weights": {"v3": 100}}]}  # fmt: skip
    # when
    policy = policy_of(state)
    # then the block names what the demo cannot evaluate, and no header class takes the route
    assert policy.routes[0].match == (
        MatchBlock((HeaderCondition("x-group", "exact", "test"),), unsupported=("method", "uri")),
    )
    assert policy.class_routes == (-1, -1, -1, -1)
