"""The demo exporter scraped by Debian's real Prometheus reads like the demo source read directly.

``manage.py demo_exporter`` and ``/usr/bin/prometheus`` (scraping it every second) run as
subprocesses on free loopback ports; after ~25 s of scrapes the mesh is read through
``metrics.reader.PrometheusTelemetrySource`` and through ``DemoTelemetrySource`` for the same
20 s window ending at the last scrape.

Why 10 %: both sides see the same exact counters, but Prometheus' ``rate`` divides the increase
between the first and last scrape inside the window by their distance and extrapolates it to the
window (both ends are within one scrape interval), so it is the mean rate over ~19 of the 20
seconds; the demo's fastest drift (6 % amplitude, period >= 45 s) moves a mean over 19 s by well
under 1 %. The rest is timing: Prometheus stamps a sample with the scrape's start while the
exporter computes the counter when the request arrives; on a loaded test machine that lag can
reach a few hundred ms, i.e. a few % of 19 s. The seed is picked so that no incident starts or
ends near the window (an incident edge inside it would make a series' rate step). The set of
series is compared exactly (Prometheus also keeps series that stopped growing, at rate 0: those
are left out, as the direct read never lists them).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from demo.mesh import bookinfo_mesh
from demo.simulate import Simulator
from demo.source import DemoTelemetrySource
from metrics.client import PrometheusClient
from metrics.reader import QUERY_PLAN, PrometheusTelemetrySource, rate_query
from tests.support.prometheus import PROMETHEUS, free_port
from topology.graph.build import build_graph
from topology.graph.telemetry import MeshTelemetry
from topology.graph.types import GraphOptions, GraphType

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
WINDOW_S = 20
SCRAPE_FOR_S = 25.0
START_TIMEOUT_S = 60.0
TOLERANCE = 0.10


@dataclass
class Running:
    exporter: subprocess.Popen
    prometheus: subprocess.Popen
    prometheus_url: str
    seed: int
    logs: Path


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_http(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited ({process.returncode}): {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {START_TIMEOUT_S} s: {log.read_text()[-3000:]}")


def _quiet_seed(now: float) -> int:
    """The first seed whose incidents keep away from the scrape period (incidents are every
    20-40 min and last 2-6 min, so a few seeds suffice)."""
    mesh = bookinfo_mesh()
    for seed in range(1, 100):
        if not Simulator(mesh, seed).incidents(now - 120, now + 300):
            return seed
    raise AssertionError("every seed has an incident now")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("demo-prometheus")
    seed = _quiet_seed(time.time())
    exporter_port = free_port()
    exporter_log = tmp / "exporter.log"
    with exporter_log.open("w") as log:
        exporter = subprocess.Popen(
            [sys.executable, "manage.py", "demo_exporter", "--port", str(exporter_port), "--seed", str(seed)],
            cwd=REPO,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    prometheus = None
    try:
        _wait_http(f"http://127.0.0.1:{exporter_port}/metrics", exporter, exporter_log)
        config = tmp / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: demo\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{exporter_port}']\n"
        )
        prometheus_port = free_port()
        prometheus_log = tmp / "prometheus.log"
        with prometheus_log.open("w") as log:
            prometheus = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp / 'data'}",
                    f"--web.listen-address=127.0.0.1:{prometheus_port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{prometheus_port}"
        _wait_http(f"{url}/-/ready", prometheus, prometheus_log)
        yield Running(exporter, prometheus, url, seed, tmp)
    finally:
        if prometheus is not None:
            _stop(prometheus)
        _stop(exporter)


def _last_scrape(client: PrometheusClient) -> float:
    result = client.query('timestamp(up{job="demo"} == 1)', time=time.time())
    if not result.samples:
        return 0.0
    return result.samples[0].value


def _first_scrape(client: PrometheusClient) -> float | None:
    now = time.time()
    result = client.query('min_over_time(timestamp(up{job="demo"} == 1)[5m:1s])', time=now)
    return result.samples[0].value if result.samples else None


@pytest.fixture(scope="module")
def both_reads(running: Running) -> tuple[MeshTelemetry, MeshTelemetry, MeshTelemetry]:
    client = PrometheusClient(running.prometheus_url, timeout_s=10)
    deadline = time.monotonic() + START_TIMEOUT_S + SCRAPE_FOR_S
    first = None
    while first is None and time.monotonic() < deadline:
        first = _first_scrape(client)
        if first is None:
            time.sleep(0.5)
    assert first is not None, (running.logs / "prometheus.log").read_text()[-3000:]
    while _last_scrape(client) < first + SCRAPE_FOR_S and time.monotonic() < deadline:
        time.sleep(0.5)
    query_time = _last_scrape(client)
    assert query_time >= first + SCRAPE_FOR_S, "Prometheus did not scrape the exporter long enough"
    via_prometheus = PrometheusTelemetrySource(client).read(
        query_time=query_time, window_s=WINDOW_S, namespaces=None
    )
    direct = DemoTelemetrySource(seed=running.seed).read(
        query_time=query_time, window_s=WINDOW_S, namespaces=None
    )
    # Every series as scraped (both reporters, every label), to compare series by series.
    raw = MeshTelemetry(query_time=query_time, window_s=WINDOW_S)
    for field_name, metric, _, _, labels in QUERY_PLAN:
        promql = rate_query(metric, labels, WINDOW_S, None, "")
        setattr(raw, field_name, client.query(promql, time=query_time).samples)
    return via_prometheus, direct, raw


def _keyed(samples) -> dict[tuple, float]:
    """Series by their labels, without the empty ones (Prometheus drops a label set to "")."""
    return {tuple(sorted((k, v) for k, v in s.labels.items() if v != "")): s.value for s in samples}


@pytest.mark.parametrize(
    "field", ["requests", "duration_buckets", "duration_sum", "tcp_sent", "tcp_received"]
)
def test_the_same_series_flow_at_the_same_rates(both_reads, field):
    # given the same window read through Prometheus (every series) and directly
    _, direct, raw = both_reads
    scraped = {k: v for k, v in _keyed(getattr(raw, field)).items() if v > 0}
    exact = {k: v for k, v in _keyed(getattr(direct, field)).items() if v > 0}
    # then the series are the same and each rate is within the tolerance
    assert scraped.keys() == exact.keys()
    assert exact
    off = {k: (scraped[k], exact[k]) for k in exact if abs(scraped[k] - exact[k]) > TOLERANCE * exact[k]}
    assert off == {}


def test_the_workload_graphs_have_the_same_edges_and_rates(both_reads):
    # given the two reads
    via_prometheus, direct, _ = both_reads
    options = GraphOptions(GraphType.WORKLOAD, inject_service_nodes=True)
    # when each is built into a workload graph
    graphs = [build_graph(telemetry, options) for telemetry in (via_prometheus, direct)]
    # then the edges are the same, with request rates and TCP bytes within the tolerance
    scraped, exact = ({e.id: e for e in g.edges.values()} for g in graphs)
    assert scraped.keys() == exact.keys()
    assert len(exact) >= 20
    for edge_id, edge in exact.items():
        other = scraped[edge_id].stats
        assert other.request_rate == pytest.approx(edge.stats.request_rate, rel=TOLERANCE)
        if edge.protocol == "tcp":
            assert other.tcp_sent_bytes_per_s == pytest.approx(edge.stats.tcp_sent_bytes_per_s, rel=TOLERANCE)
        # Prometheus keeps outcomes that stopped (rate 0); the direct read lists only live ones.
        assert {code for code, rate in other.responses.items() if rate > 0} == set(edge.stats.responses)


def test_the_exporter_stops_on_sigterm(running):
    # given the running exporter
    exporter = running.exporter
    # when it gets SIGTERM
    exporter.terminate()
    # then it exits by itself with status 0, saying so
    assert exporter.wait(timeout=10) == 0
    assert "demo exporter stopped" in (running.logs / "exporter.log").read_text()
