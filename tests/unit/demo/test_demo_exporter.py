"""The exporter's counters: Prometheus text that parses, never goes down, and matches the direct read."""

from __future__ import annotations

import itertools
import threading
import urllib.error
import urllib.request

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from demo.exposition import ISTIO_LABELS, DemoExporter, make_server
from demo.simulate import Simulator
from demo.source import DemoTelemetrySource
from topology.graph.telemetry import EDGE_LABELS, REQUEST_LABELS, TCP_LABELS

T = 1_795_300_000.0


def scrape(exporter: DemoExporter, now: float) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, parsed by prometheus_client's own parser."""
    values = {}
    for family in text_string_to_metric_families(exporter.render(now)):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_the_exposition_parses_with_the_standard_metrics_and_labels(shared_fixtures):
    # given an exporter of the demo and the bucket bounds a real sidecar exports
    standard = yaml.safe_load((shared_fixtures / "istio" / "metrics" / "standard_metrics.yaml").read_text())
    exporter = DemoExporter(Simulator(DemoTelemetrySource().mesh), start=T)
    # when it is rendered
    families = {f.name: f for f in text_string_to_metric_families(exporter.render(T))}
    # then it has Istio's counters and histogram with the full standard label set
    assert {name: f.type for name, f in families.items()} == {
        "istio_requests": "counter",
        "istio_request_duration_milliseconds": "histogram",
        "istio_tcp_sent_bytes": "counter",
        "istio_tcp_received_bytes": "counter",
    }
    request = families["istio_requests"].samples[0]
    assert tuple(request.labels) == ISTIO_LABELS
    tcp = families["istio_tcp_sent_bytes"].samples[0]
    assert set(tcp.labels) == set(ISTIO_LABELS) - {"response_code", "grpc_response_status"}
    les = [s.labels["le"] for s in families["istio_request_duration_milliseconds"].samples if "le" in s.labels]
    assert les[:20] == standard["observed_histogram_buckets"]


def test_principals_are_spiffe_identities_of_the_service_accounts():
    # given an exporter of the demo
    exporter = DemoExporter(Simulator(DemoTelemetrySource().mesh), start=T)
    families = {f.name: f for f in text_string_to_metric_families(exporter.render(T))}
    # when the destination report of productpage -> reviews is taken
    sample = next(
        s
        for s in families["istio_requests"].samples
        if s.labels["reporter"] == "destination" and s.labels["destination_workload"] == "reviews-v2"
    )
    # then both principals name Bookinfo's service accounts
    assert sample.labels["source_principal"] == "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage"
    assert sample.labels["destination_principal"] == "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews"
    assert (sample.labels["source_app"], sample.labels["destination_version"]) == ("productpage", "v2")


def test_counters_never_go_down():
    # given an exporter scraped at increasing times (and once at an earlier one)
    exporter = DemoExporter(Simulator(DemoTelemetrySource().mesh), start=T)
    times = [T, T + 1, T + 15, T + 600, T + 599, T + 3600]
    scrapes = [scrape(exporter, t) for t in times]
    # then every series keeps or grows its value from one scrape to the next
    for earlier, later in itertools.pairwise(scrapes):
        assert set(earlier) <= set(later)
        assert all(later[key] >= value for key, value in earlier.items())
    # and the scrape at an earlier time than the last one repeats the last state
    assert scrapes[4] == scrapes[3]


def _by(values: dict, metric: str, labels: tuple[str, ...]) -> dict[tuple, float]:
    """Sum the scraped series of ``metric`` by ``labels`` (as PromQL's ``sum by`` would)."""
    grouped: dict[tuple, float] = {}
    for (name, items), value in values.items():
        if name != metric:
            continue
        as_dict = dict(items)
        key = tuple(as_dict.get(label, "") for label in labels)
        grouped[key] = grouped.get(key, 0.0) + value
    return grouped


def test_rate_over_a_window_is_the_counter_difference_over_the_window():
    # given an exporter scraped at the start and the end of a 20 s window
    source = DemoTelemetrySource(seed=5)
    exporter = DemoExporter(Simulator(source.mesh, seed=5), start=T)
    start, end = T + 100.0, T + 120.0
    first, last = scrape(exporter, start), scrape(exporter, end)
    # when the direct read covers the same window
    telemetry = source.read(query_time=end, window_s=20, namespaces=None)
    # then each series' rate is exactly (C(end) - C(start)) / 20
    checks = (
        ("istio_requests_total", REQUEST_LABELS, telemetry.requests),
        ("istio_request_duration_milliseconds_sum", EDGE_LABELS, telemetry.duration_sum),
        ("istio_tcp_sent_bytes_total", TCP_LABELS, telemetry.tcp_sent),
        ("istio_tcp_received_bytes_total", TCP_LABELS, telemetry.tcp_received),
    )
    for metric, labels, samples in checks:
        before, after = _by(first, metric, labels), _by(last, metric, labels)
        expected = {key: (value - before.get(key, 0.0)) / 20 for key, value in after.items()}
        direct = {tuple(s.labels[label] for label in labels): s.value for s in samples}
        assert direct.keys() == {key for key, value in expected.items() if value > 0}
        for key, value in direct.items():
            assert value == pytest.approx(expected[key], rel=1e-6)


def test_the_server_answers_metrics_and_404_elsewhere():
    # given the exporter served on a free loopback port
    exporter = DemoExporter(Simulator(DemoTelemetrySource().mesh), start=T)
    server = make_server(exporter, "127.0.0.1", 0, lambda: T + 10)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        # when /metrics and another path are fetched
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            body = response.read().decode()
            content_type = response.headers["Content-Type"]
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{url}/other", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    # then /metrics is the exposition at the server's clock and anything else is 404
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert body == exporter.render(T + 10)
    assert missing.value.code == 404
