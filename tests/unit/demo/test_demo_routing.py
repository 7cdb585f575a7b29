"""The demo obeys the operator's routing: weights, aborts, delays, timeouts and header match routes,
from their change on."""

from __future__ import annotations

import math

import pytest

from demo.mesh import Call, MeshDefinition, Service, Workload
from demo.simulate import HEADER_CLASSES, Abort, Delay, HeaderCondition, MatchBlock, MatchRoute, RoutingPolicy
from demo.source import DemoTelemetrySource

T = 1_795_300_000.0
BOOKINFO = frozenset({"bookinfo"})


def quiet_time(source: DemoTelemetrySource, start: float = T, margin: float = 900.0) -> float:
    """The first instant from ``start`` on (in 60 s steps) with no incident within ``margin`` s."""
    for step in range(200):
        t = start + 60.0 * step
        if not source.simulator.incidents(t - margin, t + margin):
            return t
    raise AssertionError("no quiet time found")


def total(samples, **match: str) -> float:
    return sum(s.value for s in samples if all(s.labels.get(k) == v for k, v in match.items()))


def routed(policies: dict) -> DemoTelemetrySource:
    return DemoTelemetrySource(routing=lambda: policies)


def reviews_split(telemetry) -> list[float]:
    rates = [total(telemetry.requests, reporter="destination", destination_workload=f"reviews-v{n}") for n in (1, 2, 3)]
    return [rate / sum(rates) for rate in rates]


def test_without_a_policy_reviews_versions_share_traffic_evenly():
    # given the demo without routing
    source = DemoTelemetrySource()
    # when a quiet minute is read
    telemetry = source.read(query_time=quiet_time(source), window_s=60, namespaces=BOOKINFO)
    # then each reviews version gets a third
    assert reviews_split(telemetry) == pytest.approx([1 / 3, 1 / 3, 1 / 3], rel=1e-9)


def test_weights_90_10_shift_the_reviews_split_from_the_change_on():
    # given a 90/10 v1/v2 policy on reviews since an instant
    base = DemoTelemetrySource()
    now = quiet_time(base)
    changed_at = now - 600
    source = routed({("bookinfo", "reviews"): (changed_at, RoutingPolicy(weights={"v1": 90, "v2": 10}))})
    # when windows after and before the change are read
    after = source.read(query_time=now, window_s=300, namespaces=BOOKINFO)
    before = source.read(query_time=changed_at, window_s=300, namespaces=BOOKINFO)
    # then after it v1 gets 90 %, v2 10 % and v3 nothing; before it the split was even
    assert reviews_split(after) == pytest.approx([0.9, 0.1, 0.0], abs=1e-12)
    assert reviews_split(before) == pytest.approx([1 / 3, 1 / 3, 1 / 3], rel=1e-9)
    # and ratings now only hears from v2, at 0.1 / (1/3) of its even-split rate
    unrouted = base.read(query_time=now, window_s=300, namespaces=BOOKINFO)
    from_v2 = total(after.requests, reporter="destination", source_workload="reviews-v2")
    assert from_v2 == pytest.approx(
        0.3 * total(unrouted.requests, reporter="destination", source_workload="reviews-v2")
    )
    assert total(after.requests, source_workload="reviews-v3") == 0.0


def test_a_window_across_a_change_mixes_before_and_after_by_time():
    # given a policy sending everything to v3 from the middle of a window
    base = DemoTelemetrySource()
    now = quiet_time(base)
    source = routed({("bookinfo", "reviews"): (now - 30, RoutingPolicy(weights={"v3": 1}))})
    # when the window is read
    telemetry = source.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    # then v3's traffic is its even share before the change plus all of it after
    first = base.simulator.flows[2].volume(now - 60, now - 30)
    second = base.simulator.flows[2].volume(now - 30, now)
    v3 = total(telemetry.requests, reporter="destination", destination_workload="reviews-v3")
    assert base.simulator.flows[2].call.service == ("bookinfo", "reviews")
    assert v3 * 60 == pytest.approx(first / 3 + second, rel=1e-9)


def test_abort_50_percent_answers_half_in_the_client_proxy():
    # given a 50 % abort with HTTP 500 on ratings
    base = DemoTelemetrySource()
    now = quiet_time(base)
    source = routed({("bookinfo", "ratings"): (now - 3600, RoutingPolicy(abort=Abort(50, 500)))})
    # when a window is read
    telemetry = source.read(query_time=now, window_s=120, namespaces=BOOKINFO)
    to_ratings = [s for s in telemetry.requests if s.labels["destination_service_name"] == "ratings"]
    aborted = [s for s in to_ratings if s.labels["response_flags"] == "FI"]
    # then half the calls are FI aborts, reported by the source only, to no workload, with 500
    assert {(s.labels["reporter"], s.labels["destination_workload"], s.labels["response_code"]) for s in aborted} == {
        ("source", "unknown", "500")
    }
    sent = total(to_ratings, reporter="source")
    assert sum(s.value for s in aborted) / sent == pytest.approx(0.5, rel=1e-9)
    # and only the other half reaches ratings-v1
    assert total(to_ratings, reporter="destination") == pytest.approx(0.5 * sent, rel=1e-9)


def test_aborts_in_front_of_a_workload_reduce_the_calls_it_makes():
    # given a 50 % abort on reviews
    base = DemoTelemetrySource()
    now = quiet_time(base)
    source = routed({("bookinfo", "reviews"): (now - 3600, RoutingPolicy(abort=Abort(50, 503)))})
    # when a window is read with and without it
    with_abort = source.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    without = base.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    # then reviews calls ratings half as often
    ratings = {"reporter": "destination", "destination_workload": "ratings-v1"}
    assert total(with_abort.requests, **ratings) == pytest.approx(0.5 * total(without.requests, **ratings), rel=1e-9)


def test_a_timeout_turns_slow_answers_into_504_ut_at_the_source():
    # given a 10 ms timeout on reviews (reviews-v3's median is 45 ms)
    base = DemoTelemetrySource()
    now = quiet_time(base)
    source = routed({("bookinfo", "reviews"): (now - 3600, RoutingPolicy(timeout_ms=10.0))})
    # when a window is read
    telemetry = source.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    v3 = [s for s in telemetry.requests if s.labels["destination_workload"] == "reviews-v3"]
    # then the source reports 504 UT and the destination 0 DC for the requests slower than 10 ms
    outcomes = {(s.labels["reporter"], s.labels["response_code"], s.labels["response_flags"]) for s in v3}
    assert outcomes == {
        ("source", "200", "-"),
        ("source", "504", "UT"),
        ("destination", "200", "-"),
        ("destination", "0", "DC"),
    }
    late = 1 - 0.5 * (1 + math.erf((math.log(10.0) - math.log(45.0)) / (0.55 * math.sqrt(2))))
    timed_out = total(v3, reporter="source", response_code="504")
    assert timed_out / total(v3, reporter="source") == pytest.approx(late, rel=1e-9)
    assert total(v3, reporter="destination", response_code="0") == pytest.approx(timed_out, rel=1e-12)


def test_a_timeout_caps_the_latency_the_client_sees():
    # given a 10 ms timeout on reviews
    base = DemoTelemetrySource()
    now = quiet_time(base)
    source = routed({("bookinfo", "reviews"): (now - 3600, RoutingPolicy(timeout_ms=10.0))})
    # when a window is read
    telemetry = source.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    buckets = {
        s.labels["le"]: s.value
        for s in telemetry.duration_buckets
        if s.labels["reporter"] == "source" and s.labels["destination_workload"] == "reviews-v3"
    }
    # then every client-side observation is at most timeout + the proxy hop (11 ms <= 25 ms bucket)
    assert buckets["25"] == pytest.approx(buckets["+Inf"], rel=1e-9)
    assert buckets["10"] < buckets["+Inf"]


def test_a_delay_slows_what_the_client_sees_but_not_the_server():
    # given a 2 s delay on 25 % of the requests to details
    base = DemoTelemetrySource()
    now = quiet_time(base)
    source = routed({("bookinfo", "details"): (now - 3600, RoutingPolicy(delay=Delay(25, 2000)))})
    # when a window is read with and without it
    delayed = source.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    plain = base.read(query_time=now, window_s=60, namespaces=BOOKINFO)

    def mean(telemetry, reporter: str) -> float:
        match = {"reporter": reporter, "destination_workload": "details-v1"}
        count = total([s for s in telemetry.duration_buckets if s.labels["le"] == "+Inf"], **match)
        return total(telemetry.duration_sum, **match) / count

    # then the client's mean grows by 0.25 x 2000 ms and the server's does not move
    assert mean(delayed, "source") - mean(plain, "source") == pytest.approx(500.0, rel=1e-9)
    assert mean(delayed, "destination") == pytest.approx(mean(plain, "destination"), rel=1e-12)


def test_a_history_of_changes_applies_each_policy_in_its_own_time():
    # given reviews routed all to v1, then all to v2
    base = DemoTelemetrySource()
    now = quiet_time(base)
    history = [
        (now - 600, RoutingPolicy(weights={"v1": 1})),
        (now - 300, RoutingPolicy(weights={"v2": 1})),
    ]
    source = routed({("bookinfo", "reviews"): history})
    # when the two periods are read
    first = source.read(query_time=now - 300, window_s=300, namespaces=BOOKINFO)
    second = source.read(query_time=now, window_s=300, namespaces=BOOKINFO)
    # then each period follows its own policy
    assert reviews_split(first) == pytest.approx([1.0, 0.0, 0.0])
    assert reviews_split(second) == pytest.approx([0.0, 1.0, 0.0])


def test_routing_does_not_apply_to_clients_without_a_sidecar():
    # given a 100 % abort on frontend, which also takes traffic from outside the mesh
    base = DemoTelemetrySource()
    now = quiet_time(base)
    source = routed({("shop", "frontend"): (now - 3600, RoutingPolicy(abort=Abort(100, 503)))})
    # when a window is read
    telemetry = source.read(query_time=now, window_s=60, namespaces=frozenset({"shop"}))
    # then the gateway's requests are all aborted but the outside clients still reach frontend
    assert total(telemetry.requests, reporter="destination", source_workload="istio-ingressgateway") == 0.0
    assert total(telemetry.requests, reporter="destination", source_workload="unknown") > 0.0


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: RoutingPolicy(weights={"v1": -1}), "weights must not be negative"),
        (lambda: RoutingPolicy(timeout_ms=0), "timeout_ms must be positive"),
        (lambda: Abort(101, 503), "abort.percent"),
        (lambda: Abort(10, 99), "abort.http_status"),
        (lambda: Delay(-1, 10), "delay.percent"),
        (lambda: Delay(10, -5), "delay.fixed_delay_ms"),
    ],
)
def test_an_invalid_policy_is_refused_naming_the_field(build, message):
    with pytest.raises(ValueError, match=message):
        build()


# --- match routes on the headers the demo's requests carry -----------------------------------


def header_route(*blocks: MatchBlock, **weights: float) -> MatchRoute:
    return MatchRoute(blocks, weights)


def headers(**conditions: tuple[str, str]) -> MatchBlock:
    """A block of header conditions, ``name=(kind, value)`` (``_`` in names stands for ``-``)."""
    return MatchBlock(
        tuple(HeaderCondition(n.replace("_", "-"), kind, value) for n, (kind, value) in conditions.items())
    )


X_GROUP_TEST = headers(x_group=("exact", "test"))


def test_the_demo_carries_the_documented_header_population():
    # when the demo's header classes are listed
    # then 10 % carry x-group: test, 10 % end-user: jason, 10 % end-user: maria, the rest none
    assert [(c.share, dict(c.headers)) for c in HEADER_CLASSES] == [
        (0.7, {}),
        (0.1, {"x-group": "test"}),
        (0.1, {"end-user": "jason"}),
        (0.1, {"end-user": "maria"}),
    ]


def test_an_x_group_route_sends_exactly_the_test_share_of_reviews_traffic_to_v3():
    # given the canary pattern: x-group: test → v3, everyone else → v1
    base = DemoTelemetrySource()
    now = quiet_time(base)
    policy = RoutingPolicy(weights={"v1": 100}, routes=(header_route(X_GROUP_TEST, v3=100),))
    source = routed({("bookinfo", "reviews"): (now - 3600, policy)})
    # when a window is read
    telemetry = source.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    # then productpage's requests with the header (10 %) reach v3, the others v1
    assert reviews_split(telemetry) == pytest.approx([0.9, 0.0, 0.1], rel=1e-9)
    sent = total(telemetry.requests, reporter="source", source_workload="productpage-v1",
                 destination_service_name="reviews")  # fmt: skip
    v3 = total(telemetry.requests, reporter="source", destination_workload="reviews-v3")
    assert v3 == pytest.approx(0.1 * sent, rel=1e-9)


def test_an_end_user_jason_route_sends_his_requests_to_v2():
    # given Bookinfo's own sample: end-user: jason → v2, the rest → v1
    base = DemoTelemetrySource()
    now = quiet_time(base)
    jason = headers(end_user=("exact", "jason"))
    policy = RoutingPolicy(weights={"v1": 100}, routes=(header_route(jason, v2=100),))
    source = routed({("bookinfo", "reviews"): (now - 3600, policy)})
    # when a window is read
    telemetry = source.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    # then jason's 10 % reach v2
    assert reviews_split(telemetry) == pytest.approx([0.9, 0.1, 0.0], rel=1e-9)


@pytest.mark.parametrize(
    ("kind", "value", "share"),
    [
        ("prefix", "ja", 0.1),
        ("prefix", "m", 0.1),
        ("regex", "jason|maria", 0.2),
        ("regex", "j.*", 0.1),
        ("regex", "jas", 0.0),
        ("exact", "jas", 0.0),
    ],
)
def test_prefix_and_regex_header_matches_pick_their_share(kind: str, value: str, share: float):
    # given a route on end-user (jason 10 %, maria 10 %) to v3; a regex must match the whole value
    base = DemoTelemetrySource()
    now = quiet_time(base)
    policy = RoutingPolicy(weights={"v1": 100}, routes=(header_route(headers(end_user=(kind, value)), v3=100),))
    source = routed({("bookinfo", "reviews"): (now - 3600, policy)})
    # when a window is read
    telemetry = source.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    # then v3 gets the share of requests whose header matches
    assert reviews_split(telemetry) == pytest.approx([1.0 - share, 0.0, share], rel=1e-9, abs=1e-12)


def test_blocks_are_alternatives_and_the_conditions_of_a_block_all_apply():
    # given a route with two blocks (x-group: test OR end-user: jason) and one with both in a block
    base = DemoTelemetrySource()
    now = quiet_time(base)
    either = header_route(X_GROUP_TEST, headers(end_user=("exact", "jason")), v3=100)
    both = header_route(headers(x_group=("exact", "test"), end_user=("exact", "jason")), v3=100)
    # when each is read
    split_either = reviews_split(
        routed({("bookinfo", "reviews"): (now - 3600, RoutingPolicy(weights={"v1": 100}, routes=(either,)))}).read(
            query_time=now, window_s=60, namespaces=BOOKINFO
        )
    )
    split_both = reviews_split(
        routed({("bookinfo", "reviews"): (now - 3600, RoutingPolicy(weights={"v1": 100}, routes=(both,)))}).read(
            query_time=now, window_s=60, namespaces=BOOKINFO
        )
    )
    # then either header takes the route (20 %); no request carries both, so the AND block takes none
    assert split_either == pytest.approx([0.8, 0.0, 0.2], rel=1e-9)
    assert split_both == pytest.approx([1.0, 0.0, 0.0], rel=1e-9)


def test_the_first_matching_route_wins():
    # given two routes matching x-group: test, to v3 then to v2
    base = DemoTelemetrySource()
    now = quiet_time(base)
    policy = RoutingPolicy(
        weights={"v1": 100}, routes=(header_route(X_GROUP_TEST, v3=100), header_route(X_GROUP_TEST, v2=100))
    )
    source = routed({("bookinfo", "reviews"): (now - 3600, policy)})
    # when a window is read
    telemetry = source.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    # then the first one takes the test group
    assert reviews_split(telemetry) == pytest.approx([0.9, 0.0, 0.1], rel=1e-9)


def test_a_block_with_a_condition_the_demo_cannot_evaluate_never_matches():
    # given x-group: test → v3 in a block that also tests the uri, and a plain end-user: jason block
    base = DemoTelemetrySource()
    now = quiet_time(base)
    with_uri = MatchBlock(X_GROUP_TEST.headers, unsupported=("uri",))
    policy = RoutingPolicy(
        weights={"v1": 100}, routes=(header_route(with_uri, headers(end_user=("exact", "jason")), v3=100),)
    )
    source = routed({("bookinfo", "reviews"): (now - 3600, policy)})
    # when a window is read
    telemetry = source.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    # then only jason's requests take the route: the uri block never matches
    assert reviews_split(telemetry) == pytest.approx([0.9, 0.0, 0.1], rel=1e-9)


def test_without_headers_matches_requests_lacking_the_header():
    # given a route for requests without any end-user (Istio's withoutHeaders) to v2
    base = DemoTelemetrySource()
    now = quiet_time(base)
    anonymous = MatchBlock((HeaderCondition("end-user", "regex", ".*", negated=True),))
    policy = RoutingPolicy(weights={"v1": 100}, routes=(header_route(anonymous, v2=100),))
    source = routed({("bookinfo", "reviews"): (now - 3600, policy)})
    # when a window is read
    telemetry = source.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    # then the 80 % without end-user reach v2, jason's and maria's 20 % v1
    assert reviews_split(telemetry) == pytest.approx([0.2, 0.8, 0.0], rel=1e-9)


def test_a_fault_on_the_default_route_spares_the_header_routed_share():
    # given a 100 % abort on reviews' default route and x-group: test routed to v3
    base = DemoTelemetrySource()
    now = quiet_time(base)
    policy = RoutingPolicy(weights={"v1": 100}, abort=Abort(100, 503), routes=(header_route(X_GROUP_TEST, v3=100),))
    source = routed({("bookinfo", "reviews"): (now - 3600, policy)})
    # when a window is read
    telemetry = source.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    to_reviews = [s for s in telemetry.requests if s.labels["destination_service_name"] == "reviews"]
    sent = total(to_reviews, reporter="source")
    # then 90 % are aborted in the client proxy and the test group all reach v3
    assert total(to_reviews, response_flags="FI") == pytest.approx(0.9 * sent, rel=1e-9)
    assert total(to_reviews, reporter="destination", destination_workload="reviews-v3") == pytest.approx(
        0.1 * sent, rel=1e-9
    )
    assert total(to_reviews, reporter="destination", destination_workload="reviews-v1") == 0.0


def test_a_timeout_on_the_default_route_spares_the_header_routed_share():
    # given everything to v3 (median 45 ms) with a 10 ms timeout on the default route, and a
    # timeout-free x-group: test route to v3
    base = DemoTelemetrySource()
    now = quiet_time(base)
    policy = RoutingPolicy(weights={"v3": 100}, timeout_ms=10.0, routes=(header_route(X_GROUP_TEST, v3=100),))
    source = routed({("bookinfo", "reviews"): (now - 3600, policy)})
    # when a window is read
    telemetry = source.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    v3 = [s for s in telemetry.requests if s.labels["destination_workload"] == "reviews-v3"]
    # then only the default route's 90 % can time out
    late = 1 - 0.5 * (1 + math.erf((math.log(10.0) - math.log(45.0)) / (0.55 * math.sqrt(2))))
    timed_out = total(v3, reporter="source", response_code="504")
    assert timed_out / total(v3, reporter="source") == pytest.approx(0.9 * late, rel=1e-9)


def test_a_header_route_changes_the_traffic_from_the_instant_it_applies():
    # given reviews all to v1, then from the middle of a window x-group: test to v3 as well
    base = DemoTelemetrySource()
    now = quiet_time(base)
    history = [
        (now - 3600, RoutingPolicy(weights={"v1": 100})),
        (now - 30, RoutingPolicy(weights={"v1": 100}, routes=(header_route(X_GROUP_TEST, v3=100),))),
    ]
    source = routed({("bookinfo", "reviews"): history})
    # when the window is read
    telemetry = source.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    # then v3 carries the test share of the second half only, v1 the rest
    flow = base.simulator.flows[2]
    first, second = flow.volume(now - 60, now - 30), flow.volume(now - 30, now)
    v1 = total(telemetry.requests, reporter="destination", destination_workload="reviews-v1")
    v3 = total(telemetry.requests, reporter="destination", destination_workload="reviews-v3")
    assert flow.call.service == ("bookinfo", "reviews")
    assert v3 * 60 == pytest.approx(0.1 * second, rel=1e-9)
    assert v1 * 60 == pytest.approx(first + 0.9 * second, rel=1e-9)


def test_a_header_routed_workload_makes_the_calls_of_its_header_class_only():
    # given x-group: test → reviews-v3 (others → v1), and on ratings a 100 % abort on the default
    # route with an abort-free x-group: test route
    base = DemoTelemetrySource()
    now = quiet_time(base)
    reviews = RoutingPolicy(weights={"v1": 100}, routes=(header_route(X_GROUP_TEST, v3=100),))
    ratings = RoutingPolicy(abort=Abort(100, 503), routes=(header_route(X_GROUP_TEST, v1=100),))
    source = routed({("bookinfo", "reviews"): (now - 3600, reviews), ("bookinfo", "ratings"): (now - 3600, ratings)})
    # when a window is read with and without the routing
    telemetry = source.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    unrouted = base.read(query_time=now, window_s=60, namespaces=BOOKINFO)
    # then v3 calls ratings for its 10 % (0.3 of its even third), all of them carrying the header:
    # none is aborted; v2 makes no calls
    from_v3 = {"reporter": "destination", "source_workload": "reviews-v3", "destination_workload": "ratings-v1"}
    assert total(telemetry.requests, **from_v3) == pytest.approx(0.3 * total(unrouted.requests, **from_v3), rel=1e-9)
    assert total(telemetry.requests, destination_service_name="ratings", response_flags="FI") == 0.0
    assert total(telemetry.requests, source_workload="reviews-v2") == 0.0


def test_the_source_factor_of_tcp_calls_is_the_mixture_over_header_classes():
    # given gRPC catalog routed x-group: test → v2, the rest → v1 (catalog calls postgres over TCP)
    base = DemoTelemetrySource()
    now = quiet_time(base)
    policy = RoutingPolicy(weights={"v1": 100}, routes=(header_route(X_GROUP_TEST, v2=100),))
    source = routed({("shop", "catalog"): (now - 3600, policy)})
    shop = frozenset({"shop"})
    # when a window is read with and without the routing
    telemetry = source.read(query_time=now, window_s=60, namespaces=shop)
    unrouted = base.read(query_time=now, window_s=60, namespaces=shop)
    # then catalog-v2 serves 10 % instead of half, and sends postgres 0.2 of its usual bytes
    v2_bytes = {"reporter": "destination", "source_workload": "catalog-v2"}
    assert total(telemetry.tcp_sent, **v2_bytes) == pytest.approx(0.2 * total(unrouted.tcp_sent, **v2_bytes), rel=1e-9)
    catalog = [total(telemetry.requests, reporter="destination", destination_workload=f"catalog-v{n}") for n in (1, 2)]
    assert [rate / sum(catalog) for rate in catalog] == pytest.approx([0.9, 0.1], rel=1e-9)


def test_tcp_traffic_carries_no_headers_and_takes_the_default_route():
    # given a TCP service with two versions, default route to v1 and a route matching every
    # request that carries end-user (jason or maria) to v2
    db = (Workload("ns", "db-v1", "db", "v1"), Workload("ns", "db-v2", "db", "v2"))
    mesh = MeshDefinition(
        "tcp", (Workload("ns", "client", "client"), *db), (Service("ns", "db", "tcp", ("db-v1", "db-v2")),),
        (Call(("ns", "client"), ("ns", "db"), rate=1000.0),),
    )  # fmt: skip
    policy = RoutingPolicy(weights={"v1": 100}, routes=(header_route(headers(end_user=("regex", ".+")), v2=100),))
    source = DemoTelemetrySource(mesh, routing=lambda: {("ns", "db"): (T - 3600, policy)})
    # when a window is read
    telemetry = source.read(query_time=T, window_s=60, namespaces=None)
    # then every byte goes to v1
    assert total(telemetry.tcp_sent, destination_workload="db-v2") == 0.0
    assert total(telemetry.tcp_sent, reporter="destination", destination_workload="db-v1") > 0.0


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: HeaderCondition("x-group", "suffix", "test"), "header match kind"),
        (lambda: HeaderCondition("x-group", "regex", "("), "header regex"),
        (lambda: MatchRoute((), {"v1": 100}), "at least one match block"),
        (lambda: MatchRoute((X_GROUP_TEST,), {"v1": -1}), "weights must not be negative"),
    ],
)
def test_an_invalid_match_route_is_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()
