"""The ticker's pure-ish parts: views, one read per window, deltas, upstream failure and recovery."""

from __future__ import annotations

import json

import pytest

import sources
from metrics.errors import PrometheusUnavailable
from tests.unit.topology.live.live_support import ChangingSource
from topology.graph.diff import apply_delta
from topology.graph.types import GraphType
from topology.snapshot import InvalidView, MemoryStore, View, compute_tick, is_due, parse_view

# A graph document reads the traffic audit log for recent routing changes (decision 0023).
pytestmark = pytest.mark.django_db

@pytest.fixture
def source(monkeypatch: pytest.MonkeyPatch) -> ChangingSource:
    changing = ChangingSource()
    monkeypatch.setattr(sources, "telemetry_source", lambda: changing)
    return changing


def tick(views: list[View], store: MemoryStore, now: float = 1795310940.0) -> list[tuple]:
    return compute_tick(views, store.load, store.save, refresh_s=15, clock=lambda: now)


def test_parse_view_applies_the_graph_api_defaults_and_sorts_namespaces():
    # given a view naming namespaces out of order
    # when parsed
    view = parse_view({"namespaces": ["web", "shop"], "window": "1h"})
    # then defaults are the REST API's and the namespaces are sorted
    assert view == View(namespaces=("shop", "web"), graph_type=GraphType.WORKLOAD, window_s=3600,
                        include_idle=False, inject_service_nodes=False)
    assert parse_view(view.to_json()) == view


def test_view_key_is_stable_and_differs_per_view():
    # given two spellings of one view and a different view
    one = parse_view({"namespaces": ["web", "shop"]})
    same = parse_view({"namespaces": "shop,web", "window": "5m"})
    other = parse_view({"namespaces": ["shop", "web"], "include_idle": True})
    # when keyed
    # then equal views share a key and different ones do not
    assert one.key == same.key
    assert one.key != other.key
    assert len(one.key) == 16


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"window": "5x"}, "window", "'5x' is not a duration such as 30s, 5m, 1h or 7d"),
        ({"window": "10s"}, "window", "must be between 1m and 7d"),
        ({"graph_type": "pods"}, "graph_type", '"pods" is not a valid choice.'),
        ({"namespaces": ["Shop"]}, "namespaces", "'Shop' is not a valid namespace name (lower-case letters,"
         " digits and '-', at most 63 characters)"),
        ({"namespaces": [1]}, "namespaces", "must be a list of namespace names"),
        ({"query_time": 1795310940}, "query_time", "is not a parameter of a live view: it always shows now"),
        ({"colour": "red"}, "colour", "is not a parameter of a live view"),
        ("workload", "view", "must be an object"),
    ],
)
def test_parse_view_names_the_bad_field(data, field, message):
    # given an invalid view
    # when parsed
    with pytest.raises(InvalidView) as caught:
        parse_view(data)
    # then the error names the field with the REST API's message
    assert (caught.value.field, caught.value.message) == (field, message)


def test_first_tick_sends_a_snapshot_and_the_next_a_delta_that_applies(source):
    # given a watched view and an empty store
    view = parse_view({"namespaces": ["shop"]})
    store = MemoryStore()
    # when two ticks run
    [first] = tick([view], store)
    first_graph = store.load(view.key)["graph"]
    [second] = tick([view], store, now=1795310955.0)
    # then the first is snapshot seq 1, the second a delta seq 2 that turns the first graph into the stored one
    assert first[:3] == (view.key, "snapshot", 1)
    snapshot = json.loads(first[3])
    assert (snapshot["type"], snapshot["seq"], snapshot["refresh_s"]) == ("snapshot", 1, 15)
    assert [e["request_rate"] for e in snapshot["graph"]["edges"]] == [1.0]
    assert second[:3] == (view.key, "delta", 2)
    delta = json.loads(second[3])
    assert delta["query_time"] == 1795310955
    assert len(delta["edges"]["added"]) == 1
    assert apply_delta(first_graph, delta) == store.load(view.key)["graph"]


def test_views_sharing_a_window_share_one_read_of_their_namespaces(source):
    # given three views: two on a 5m window (different namespaces, types), one on 1h
    views = [
        parse_view({"namespaces": ["shop"]}),
        parse_view({"namespaces": ["web"], "graph_type": "app"}),
        parse_view({"namespaces": ["shop"], "window": "1h"}),
    ]
    # when one tick runs
    frames = tick(views, MemoryStore())
    # then there is one read per window, of the union of namespaces, and one frame per view
    assert sorted((r["window_s"], r["namespaces"]) for r in source.reads) == [
        (300, frozenset({"shop", "web"})),
        (3600, frozenset({"shop"})),
    ]
    assert [f[0] for f in frames] == [views[0].key, views[1].key, views[2].key]


def test_a_view_of_the_whole_mesh_makes_the_shared_read_whole(source):
    # given a namespaced view and a whole-mesh view on one window
    views = [parse_view({"namespaces": ["shop"]}), parse_view({})]
    # when one tick runs
    tick(views, MemoryStore())
    # then the one read is of the whole mesh
    assert [r["namespaces"] for r in source.reads] == [None]


def test_upstream_failure_keeps_the_last_graph_and_reports_stale_then_live(source):
    # given a view with a good snapshot at t0
    view = parse_view({"namespaces": ["shop"]})
    store = MemoryStore()
    tick([view], store, now=1000.0)
    good = store.load(view.key)["graph"]
    # when Prometheus fails at t0+47, then recovers at t0+60
    source.failure = PrometheusUnavailable(
        "Prometheus at prometheus:9090 did not answer within 10 s", reason="timeout", host="prometheus:9090"
    )
    [down] = tick([view], store, now=1047.0)
    kept = store.load(view.key)
    source.failure = None
    recovered = tick([view], store, now=1060.0)
    # then a stale status with the age, the graph kept, then a delta seq 2 and a live status
    assert json.loads(down[3]) == {
        "type": "status", "view_key": view.key, "state": "stale", "code": "prometheus_unavailable",
        "message": "Prometheus at prometheus:9090 did not answer within 10 s", "age_s": 47,
    }
    assert (kept["graph"], kept["seq"]) == (good, 1)
    assert [(f[1], f[2]) for f in recovered] == [("delta", 2), ("status", None)]
    assert json.loads(recovered[1][3])["state"] == "live"


def test_upstream_down_before_any_graph_says_upstream_down_then_snapshot(source):
    # given Prometheus down from the start
    view = parse_view({})
    store = MemoryStore()
    source.failure = PrometheusUnavailable("connection refused", reason="connection_refused", host="p:9090")
    # when a tick fails and the next succeeds
    [down] = tick([view], store)
    source.failure = None
    recovered = tick([view], store)
    # then upstream_down without age, then the first snapshot and a live status
    status = json.loads(down[3])
    assert (status["state"], status["age_s"]) == ("upstream_down", None)
    assert [(f[1], f[2]) for f in recovered] == [("snapshot", 1), ("status", None)]


def test_a_view_is_due_after_half_an_interval():
    # given a view computed at t=100 with a 15 s interval
    state = {"computed_at": 100.0}
    # when asked at several times
    # then it is due from t=107.5 on, and always when never computed
    assert not is_due(state, 107.0, 15)
    assert is_due(state, 107.5, 15)
    assert is_due(None, 0.0, 15)
