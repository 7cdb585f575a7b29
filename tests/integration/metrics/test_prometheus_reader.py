"""The Prometheus reader and client against Debian's real Prometheus serving a known mesh."""

from __future__ import annotations

import dataclasses
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from metrics import client as client_module
from metrics.client import PrometheusClient, QueryEvent
from metrics.errors import PrometheusQueryError, PrometheusQueryLimit
from metrics.parse import EDGE_SEPARATOR
from metrics.promql import matcher, regex_alternation, selector
from metrics.reader import NAMESPACE_LABELS, PrometheusTelemetrySource
from metrics.rules import render_rules
from tests.support import mesh_truth
from tests.support.prometheus import PROMTOOL, free_port, start_prometheus, write_openmetrics

pytestmark = pytest.mark.integration

WINDOW_S = 600
REPO = Path(__file__).resolve().parents[3]
HTTP = ("http", "grpc")
OUTCOME_KEY = (
    "reporter",
    "source_workload",
    "destination_service_name",
    "destination_workload",
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
)


# The truth as the deduped queries return it: each stream once, from the destination proxy when
# it reported the stream, else from the source proxy (docs/decisions/0002).
COUNTED_ONCE = tuple(
    dataclasses.replace(s, reporters=("destination",) if "destination" in s.reporters else ("source",))
    for s in mesh_truth.STREAMS
)


def totals(samples, key):
    out: dict[tuple[str, ...], float] = {}
    for sample in samples:
        group = tuple(sample.label(k) for k in key)
        out[group] = out.get(group, 0.0) + sample.value
    return out


def assert_same_totals(actual, expected):
    assert set(actual) == set(expected)
    for group, value in expected.items():
        assert actual[group] == pytest.approx(value, rel=1e-9), group


def read(client, *, window_s=WINDOW_S, namespaces=None, query_time=mesh_truth.DATA_END):
    return PrometheusTelemetrySource(client).read(
        query_time=query_time, window_s=window_s, namespaces=namespaces
    )


def test_request_rates_match_truth_once_per_outcome_destination_first(scoped_client):
    # when reading the whole mesh
    telemetry = read(scoped_client)
    # then every request stream comes back once, from the destination proxy when it saw it
    assert_same_totals(
        totals(telemetry.requests, OUTCOME_KEY),
        mesh_truth.expected_totals(COUNTED_ONCE, OUTCOME_KEY, protocols=HTTP),
    )
    assert telemetry.warnings == []


def test_tcp_bytes_match_truth_per_reporter(scoped_client):
    telemetry = read(scoped_client)
    key = ("reporter", "source_workload", "destination_workload", "connection_security_policy")
    assert_same_totals(
        totals(telemetry.tcp_sent, key),
        mesh_truth.expected_totals(COUNTED_ONCE, key, protocols=("tcp",)),
    )
    assert_same_totals(
        totals(telemetry.tcp_received, key),
        mesh_truth.expected_totals(COUNTED_ONCE, key, field_name="received", protocols=("tcp",)),
    )


def test_duration_sum_and_buckets_match_truth(scoped_client):
    telemetry = read(scoped_client)
    key = ("reporter", "source_workload", "destination_workload")
    assert_same_totals(
        totals(telemetry.duration_sum, key),
        mesh_truth.expected_totals(COUNTED_ONCE, key, field_name="duration_sum", protocols=HTTP),
    )
    expected_buckets: dict[tuple[str, ...], float] = {}
    for stream in COUNTED_ONCE:
        if stream.protocol == "tcp":
            continue
        for reporter in stream.reporters:
            labels = stream.labels(reporter)
            for le, share in stream.cumulative_buckets().items():
                group = (*(labels[k] for k in key), le)
                expected_buckets[group] = expected_buckets.get(group, 0.0) + stream.rate * share
    assert_same_totals(totals(telemetry.duration_buckets, (*key, "le")), expected_buckets)


def test_histogram_quantiles_from_prometheus_match_truth(scoped_client, prometheus):
    # given the cart-v1 -> payments edge, whose latency distribution is known
    edge = selector(
        "istio_request_duration_milliseconds_bucket",
        [matcher("reporter", "=", "destination"), matcher("source_workload", "=", "cart-v1")],
        mesh_truth.SCOPE,
    )
    stream = next(
        s
        for s in mesh_truth.STREAMS
        if s.source == mesh_truth.CART_V1 and s.destination == mesh_truth.PAYMENTS
    )
    buckets = {float(le): stream.rate * share for le, share in stream.cumulative_buckets().items()}
    for q in (0.5, 0.95, 0.99):
        # when Prometheus computes the quantile itself
        result = scoped_client.query(
            f"histogram_quantile({q}, sum by (le) (rate({edge}[{WINDOW_S}s])))", time=prometheus.data_end
        )
        # then it equals the truth's own computation
        assert result.samples[0].value == pytest.approx(mesh_truth.histogram_quantile(q, buckets), rel=1e-9)


def test_five_queries_per_read_whatever_the_namespaces_plus_one_for_silent_servers(scoped_client):
    # given a mesh with one server that reports nothing (catalog -> ledger, only the caller reports)
    events: list[QueryEvent] = []
    client_module.add_observer(events.append)
    try:
        for namespaces in (None, frozenset({"shop"}), frozenset({"shop", "pay", "absent", "a.b|c"})):
            before = len(events)
            read(scoped_client, namespaces=namespaces)
            # then each read is the five queries plus the source fallback for that edge
            assert len(events) - before == 6
        # and a selection without such an edge costs the five alone
        before = len(events)
        read(scoped_client, namespaces=frozenset({"absent"}))
        assert len(events) - before == 5
    finally:
        client_module.remove_observer(events.append)
    assert scoped_client.queries_sent == 23
    assert {e.outcome for e in events} == {"ok"}


@pytest.mark.parametrize("namespaces", [frozenset({"pay"}), frozenset({"shop"}), frozenset({"pay", "shop"})])
def test_namespace_narrowing_equals_mesh_wide_filtered(scoped_client, namespaces):
    # given the whole mesh, filtered in Python to series from or to the namespaces
    whole = read(scoped_client)
    narrowed = read(scoped_client, namespaces=namespaces)
    for field_name in ("requests", "duration_buckets", "duration_sum", "tcp_sent", "tcp_received"):
        expected = Counter(
            (tuple(sorted(s.all_labels().items())), round(s.value, 9))
            for s in getattr(whole, field_name)
            if any(s.label(label) in namespaces for label in NAMESPACE_LABELS)
        )
        actual = Counter(
            (tuple(sorted(s.all_labels().items())), round(s.value, 9)) for s in getattr(narrowed, field_name)
        )
        # then narrowing returns the same samples, each once (``or`` keeps one copy)
        assert actual == expected, field_name
    assert narrowed.requests


def test_scope_hides_other_meshes(prometheus, scoped_client):
    # given a client without scope and one scoped to mesh1
    unscoped = PrometheusClient(prometheus.url, timeout_s=10)
    # when both read the mesh
    sources_unscoped = {s.label("source_workload") for s in read(unscoped).requests}
    sources_scoped = {s.label("source_workload") for s in read(scoped_client).requests}
    # then only the unscoped one sees the other mesh's workload
    assert "intruder" in sources_unscoped
    assert sources_unscoped - sources_scoped == {"intruder"}


def test_window_longer_than_the_data_works(scoped_client):
    # given one hour of data starting from zero, read through a 7-day window
    window_s = 7 * 86400
    telemetry = read(scoped_client, window_s=window_s)
    # then each rate is the whole hour's increase spread over the 7 days
    expected = {
        group: value * mesh_truth.SPAN_S / window_s
        for group, value in mesh_truth.expected_totals(
            COUNTED_ONCE, OUTCOME_KEY, protocols=HTTP
        ).items()
    }
    assert_same_totals(totals(telemetry.requests, OUTCOME_KEY), expected)


def test_hostile_value_matches_only_its_own_series(scoped_client, prometheus):
    for value in mesh_truth.HOSTILE_VALUES:
        # when selecting the exact hostile value
        result = scoped_client.query(
            selector("meshui_hostile_probe", [matcher("value", "=", value)]), time=prometheus.data_end
        )
        # then exactly the one series with that value comes back
        assert [s.labels["value"] for s in result.samples] == [value]


def test_regex_alternation_of_hostile_values_matches_exactly_them(scoped_client, prometheus):
    result = scoped_client.query(
        selector(
            "meshui_hostile_probe", [matcher("value", "=~", regex_alternation(mesh_truth.HOSTILE_VALUES))]
        ),
        time=prometheus.data_end,
    )
    assert sorted(s.labels["value"] for s in result.samples) == sorted(mesh_truth.HOSTILE_VALUES)


def test_bad_promql_is_query_error_with_prometheus_type(scoped_client, prometheus):
    with pytest.raises(PrometheusQueryError) as caught:
        scoped_client.query("sum(rate(istio_requests_total[5m])", time=prometheus.data_end)
    assert type(caught.value) is PrometheusQueryError
    assert caught.value.error_type == "bad_data"
    assert caught.value.status_code == 400
    assert caught.value.error.startswith('invalid parameter "query": ')


def test_too_fine_range_is_resolution_limit(scoped_client):
    with pytest.raises(PrometheusQueryLimit) as caught:
        scoped_client.query_range("vector(1)", start=0, end=86400, step=1)
    assert caught.value.limit == "max_resolution"
    assert caught.value.error_type == "bad_data"


def test_query_range_returns_matrix(scoped_client, prometheus):
    result = scoped_client.query_range(
        selector("meshui_hostile_probe", [matcher("value", "=", "new")]),
        start=prometheus.data_end - 60,
        end=prometheus.data_end,
        step=15,
    )
    [series] = result.series
    assert [t for t, _ in series.points] == [prometheus.data_end - 60 + 15 * i for i in range(5)]


def test_ping_against_real_prometheus(scoped_client):
    assert scoped_client.ping() >= 0


def test_recording_rules_file_is_valid():
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(REPO / "docs" / "prometheus-rules.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


def test_recording_rules_file_is_what_meshui_renders():
    assert (REPO / "docs" / "prometheus-rules.yaml").read_text() == render_rules()


@pytest.fixture(scope="module")
def degraded_prometheus(mesh_openmetrics, tmp_path_factory):
    """A second Prometheus on the same data with a dead remote-read endpoint and a tiny sample limit."""
    running = start_prometheus(
        mesh_openmetrics,
        tmp_path_factory.mktemp("prometheus-degraded"),
        # Below one series' points over an hour (241), above what a 30 s read holds at once.
        extra_args=["--query.max-samples=200"],
        remote_read_url=f"http://127.0.0.1:{free_port()}/read",
    )
    try:
        yield running
    finally:
        running.stop()


def test_prometheus_warnings_surface_in_telemetry(degraded_prometheus):
    # given a Prometheus whose remote read fails (it answers with warnings, not errors)
    client = PrometheusClient(degraded_prometheus.url, timeout_s=10, scope=mesh_truth.SCOPE)
    # when reading a short window, cheap enough for the sample limit
    telemetry = read(client, window_s=30, namespaces=frozenset({"pay"}))
    # then the warning reaches the telemetry once, although all five queries carried it
    assert len(telemetry.warnings) == 1
    assert "connection refused" in telemetry.warnings[0]
    assert telemetry.requests


def test_sample_limit_is_query_limit(degraded_prometheus):
    client = PrometheusClient(degraded_prometheus.url, timeout_s=10, scope=mesh_truth.SCOPE)
    with pytest.raises(PrometheusQueryLimit) as caught:
        read(client, window_s=3600)
    assert caught.value.limit == "max_samples"
    assert caught.value.error_type == "execution"


# A cluster name holding the separator of meshui_edge: legal for Prometheus, never for Kubernetes.
ODD_CLUSTER = "east" + EDGE_SEPARATOR + "west"


@pytest.fixture(scope="module")
def odd_cluster_prometheus(tmp_path_factory):
    """The known mesh where the TCP stream's proxies name their cluster ``ODD_CLUSTER``."""
    tmp = tmp_path_factory.mktemp("prometheus-odd-cluster")
    series = []
    for stream in mesh_truth.STREAMS:
        for one in mesh_truth.stream_series(stream):
            if stream.protocol == "tcp":
                one = dataclasses.replace(
                    one, labels={**one.labels, "source_cluster": ODD_CLUSTER, "destination_cluster": ODD_CLUSTER}
                )
            series.append(one)
    write_openmetrics(series, tmp / "odd.om")
    running = start_prometheus(tmp / "odd.om", tmp)
    try:
        yield running
    finally:
        running.stop()


def test_separator_inside_a_label_value_is_read_again_spelled_out(odd_cluster_prometheus):
    # given a mesh whose TCP series carry a cluster name holding the separator
    client = PrometheusClient(odd_cluster_prometheus.url, timeout_s=10, scope=mesh_truth.SCOPE)
    # when reading it
    telemetry = read(client, query_time=odd_cluster_prometheus.data_end)
    # then the TCP query was asked again with its labels spelled out: one more query (5, the
    # source fallback for the silent server, and the retry)
    assert client.queries_sent == 7
    # and the TCP bytes come back once, with the cluster name intact
    key = ("reporter", "source_cluster", "source_workload", "destination_workload")
    assert totals(telemetry.tcp_sent, key) == {("destination", ODD_CLUSTER, "ledger-v1", "postgres-v1"): 2048.0}
    assert totals(telemetry.tcp_received, key) == {("destination", ODD_CLUSTER, "ledger-v1", "postgres-v1"): 512.0}
    # while the request series kept the compact identities
    assert {s.identity is not None for s in telemetry.requests} == {True}
