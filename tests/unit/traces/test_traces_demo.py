"""``demo.traces``: the demo's traces follow its topology, latency model, headers, routing and faults."""

from __future__ import annotations

import math
import statistics

from demo.mesh import bookinfo_mesh
from demo.simulate import Abort, HeaderCondition, MatchBlock, MatchRoute, RoutingPolicy, Simulator
from demo.traces import BUCKET_S, DemoTraces
from traces.model import Trace
from traces.parse import parse_trace

# A fixed instant (2026-11-22 00:00 UTC) keeps every test deterministic.
T0 = 1795305600.0


def demo(routing=None, seed: int = 1) -> DemoTraces:
    return DemoTraces(Simulator(bookinfo_mesh(), seed, routing))


def traces_between(d: DemoTraces, a: float, b: float, history=None) -> list[Trace]:
    history = d.routing_history() if history is None else history
    return [parse_trace(d.build(ref, start, history)) for start, ref in d.refs(a, b)]


def test_same_seed_and_time_give_the_same_traces_and_another_seed_others():
    # given two demos with the same seed and one with another
    first = traces_between(demo(), T0, T0 + 600)
    again = traces_between(demo(), T0, T0 + 600)
    other = traces_between(demo(seed=2), T0, T0 + 600)
    # then the same seed rebuilds identical traces, another seed different ones
    assert first == again
    assert {t.trace_id for t in first}.isdisjoint({t.trace_id for t in other})


def test_a_trace_id_rebuilds_its_trace_and_a_foreign_id_is_unknown():
    # given a demo trace
    d = demo()
    trace = traces_between(d, T0, T0 + 120)[0]
    # when it is looked up by id, then it is the same trace
    assert parse_trace(d.trace(trace.trace_id)) == trace
    # and ids the demo never made are unknown
    assert d.trace("0" * 32) is None
    assert d.trace(trace.trace_id[:-1] + ("0" if trace.trace_id[-1] != "0" else "1")) is None
    assert d.trace("abc") is None


def test_traces_are_newest_first_within_the_range():
    d = demo()
    starts = [start for start, _ in d.refs(T0, T0 + 300)]
    assert starts == sorted(starts, reverse=True)
    assert all(T0 <= s <= T0 + 300 for s in starts)


def test_sampled_volume_follows_the_entry_rates():
    # given an hour of demo traces (1 % of ingress + outside requests)
    d = demo()
    count = sum(1 for _ in d.refs(T0, T0 + 3600))
    expected = sum(d.simulator.flows[i].volume(T0, T0 + 3600) for i in d.entries) * d.sampling
    # then the count is within 5 standard deviations of the Poisson mean
    assert abs(count - expected) < 5 * math.sqrt(expected)


def test_every_service_edge_of_a_trace_is_a_call_of_the_mesh():
    # given the demo mesh's calls as Jaeger service pairs
    mesh = bookinfo_mesh()
    allowed = set()
    for call in mesh.calls:
        if call.source is None or call.service is None:
            continue
        source = mesh.workload_index[call.source]
        service = mesh.service_index[call.service]
        for name in service.workloads:
            target = mesh.workload_index[(service.namespace, name)]
            allowed.add((f"{source.app}.{source.namespace}", f"{target.app}.{target.namespace}"))
    # when an hour of traces is built
    traces = traces_between(demo(), T0, T0 + 3600)
    edges = {(e.source, e.target) for t in traces for e in t.edges()}
    # then every edge is a mesh call, and Bookinfo's path is there
    assert edges <= allowed
    assert {
        ("istio-ingressgateway.istio-system", "productpage.bookinfo"),
        ("productpage.bookinfo", "details.bookinfo"),
        ("productpage.bookinfo", "reviews.bookinfo"),
        ("reviews.bookinfo", "ratings.bookinfo"),
    } <= edges


def test_reviews_v1_never_calls_ratings():
    # given an hour of Bookinfo traces
    traces = traces_between(demo(), T0, T0 + 3600)
    by_revision: dict[str, int] = {}
    for trace in traces:
        index = trace.span_index()
        for span in trace.spans:
            parent = index.get(span.parent_span_id or "")
            if span.service == "reviews.bookinfo" and span.tags["span.kind"] == "client" and parent is not None:
                revision = parent.tags["istio.canonical_revision"]
                by_revision[revision] = by_revision.get(revision, 0) + 1
    # then only reviews v2 and v3 call out (to ratings)
    assert set(by_revision) == {"v2", "v3"}


def test_server_span_durations_follow_the_latency_model():
    # given the server spans of ratings-v1 (median 3 ms, a leaf: nothing else in its time)
    traces = traces_between(demo(), T0, T0 + 7200)
    ratings = [
        s.duration_us / 1000
        for t in traces
        for s in t.spans
        if s.service == "ratings.bookinfo" and s.tags["span.kind"] == "server"
    ]
    # then their median is the model's (log-normal median 3 ms, sigma 0.45) within 15 %
    assert len(ratings) > 100
    assert abs(statistics.median(ratings) - 3.0) < 0.45


def test_an_abort_ends_the_branch_with_an_error_span():
    # given a fault that aborts every request to ratings with 503
    policy = RoutingPolicy(abort=Abort(100.0, 503))
    d = demo(routing=lambda: {("bookinfo", "ratings"): (T0 - 60, policy)})
    # when the traces are built
    traces = traces_between(d, T0, T0 + 900)
    ratings_host = "ratings.bookinfo.svc.cluster.local"
    calls = [s for t in traces for s in t.spans if s.tags.get("upstream_cluster", "").endswith(ratings_host)]
    # then every call to ratings is one aborted client span with no server span below it
    assert calls
    assert all(s.tags["response_flags"] == "FI" and s.tags["http.status_code"] == 503 and s.has_error for s in calls)
    assert not any(s.service == "ratings.bookinfo" for t in traces for s in t.spans)
    aborted_ids = {s.span_id for s in calls}
    assert not any(s.parent_span_id in aborted_ids for t in traces for s in t.spans)


def test_weights_route_every_request_to_one_version():
    # given routing that sends all reviews traffic to v3 from T0 on
    policy = RoutingPolicy(weights={"v3": 100.0})
    d = demo(routing=lambda: {("bookinfo", "reviews"): (T0, policy)})
    # when traces before and after T0 are built
    before = traces_between(d, T0 - 600, T0 - 1)
    after = traces_between(d, T0, T0 + 600)

    def revisions(traces):
        return {
            s.tags["istio.canonical_revision"]
            for t in traces
            for s in t.spans
            if s.service == "reviews.bookinfo" and s.tags["span.kind"] == "server"
        }

    # then before: all three versions; after: only v3
    assert revisions(before) == {"v1", "v2", "v3"}
    assert revisions(after) == {"v3"}


def test_an_error_incident_shows_as_error_spans_of_its_service():
    # given the first error incident of the demo after T0
    d = demo()
    incident = next(
        i for i in d.simulator.incidents(T0, T0 + 86400) if i.kind == "errors" and i.service[0] == "bookinfo"
    )
    name = f"{incident.service[1]}.{incident.service[0]}"
    # when the traces during it are built
    during = traces_between(d, incident.start, incident.end)
    servers = [s for t in during for s in t.spans if s.service == name and s.tags["span.kind"] == "server"]
    failed = [s for s in servers if s.has_error]
    # then about `severity` of that service's answers are errors (503)
    assert servers
    share = len(failed) / len(servers)
    spread = math.sqrt(incident.severity * (1 - incident.severity) / len(servers))
    assert abs(share - incident.severity) < 4 * spread + 0.02
    assert all(s.tags["http.status_code"] == 503 for s in failed if s.tags.get("grpc.status_code") is None)


def test_buckets_are_the_unit_of_generation():
    # a trace started in a bucket keeps its id whatever range it is read with
    d = demo()
    wide = {ref: start for start, ref in d.refs(T0, T0 + 100 * BUCKET_S)}
    narrow = {ref: start for start, ref in d.refs(T0 + 30 * BUCKET_S, T0 + 60 * BUCKET_S)}
    assert narrow
    assert all(wide[ref] == start for ref, start in narrow.items())


def header_tags(span) -> dict[str, str]:
    return {key: value for key, value in span.tags.items() if key.startswith("http.header.")}


def test_traces_carry_the_header_classes_by_their_shares_on_every_in_mesh_span():
    # given an hour of traces
    traces = traces_between(demo(), T0, T0 + 3600)
    # when each trace's headers are read from its spans (external calls carry none)
    per_trace = [
        {tuple(sorted(header_tags(s).items())) for s in t.spans if "peer.service" not in s.tags} for t in traces
    ]
    # then every in-mesh span of a trace shows the same headers (propagated from the root) ...
    assert all(len(found) == 1 for found in per_trace)
    classes = [next(iter(found)) for found in per_trace]
    assert set(classes) == {
        (),
        (("http.header.x-group", "test"),),
        (("http.header.end-user", "jason"),),
        (("http.header.end-user", "maria"),),
    }
    # ... and about 10 % of traces belong to the x-group: test class
    share = classes.count((("http.header.x-group", "test"),)) / len(classes)
    assert abs(share - 0.1) < 4 * math.sqrt(0.1 * 0.9 / len(classes))


def test_traces_of_the_header_class_go_to_the_routed_version():
    # given x-group: test → reviews v3, everyone else → v1, from T0 on
    route = MatchRoute((MatchBlock((HeaderCondition("x-group", "exact", "test"),)),), {"v3": 100})
    policy = RoutingPolicy(weights={"v1": 100}, routes=(route,))
    d = demo(routing=lambda: {("bookinfo", "reviews"): (T0, policy)})
    # when traces are built
    traces = traces_between(d, T0, T0 + 1800)
    servers = [
        s for t in traces for s in t.spans if s.service == "reviews.bookinfo" and s.tags["span.kind"] == "server"
    ]
    # then the reviews server spans of the test group are v3, all others v1, and the header shows why
    by_header = {(s.tags.get("http.header.x-group"), s.tags["istio.canonical_revision"]) for s in servers}
    assert by_header == {("test", "v3"), (None, "v1")}
    clients = [
        s
        for t in traces
        for s in t.spans
        if s.tags["span.kind"] == "client"
        and s.tags.get("upstream_cluster", "").endswith("|reviews.bookinfo.svc.cluster.local")
    ]
    assert {(s.tags.get("http.header.x-group"), s.tags["upstream_cluster"]) for s in clients} == {
        ("test", "outbound|9080|v3|reviews.bookinfo.svc.cluster.local"),
        (None, "outbound|9080|v1|reviews.bookinfo.svc.cluster.local"),
    }


def test_a_default_route_abort_spares_traces_on_a_header_route():
    # given a 100 % abort on ratings' default route and an abort-free route for end-user: jason
    route = MatchRoute((MatchBlock((HeaderCondition("end-user", "exact", "jason"),)),), {"v1": 100})
    policy = RoutingPolicy(abort=Abort(100.0, 503), routes=(route,))
    d = demo(routing=lambda: {("bookinfo", "ratings"): (T0 - 60, policy)})
    # when traces are built
    traces = traces_between(d, T0, T0 + 1800)
    ratings_host = "ratings.bookinfo.svc.cluster.local"
    calls = [s for t in traces for s in t.spans if s.tags.get("upstream_cluster", "").endswith(ratings_host)]
    # then jason's calls to ratings are answered by ratings-v1, everyone else's are aborted
    assert {(s.tags.get("http.header.end-user"), s.tags["response_flags"]) for s in calls} == {
        ("jason", "-"),
        (None, "FI"),
        ("maria", "FI"),
    }
    served = [s for t in traces for s in t.spans if s.service == "ratings.bookinfo" and s.tags["span.kind"] == "server"]
    assert served
    assert {s.tags.get("http.header.end-user") for s in served} == {"jason"}
