"""A synthetic Istio mesh served as Prometheus scrape targets, for ``bench/prometheus_scale.py``.

``SyntheticMesh(services, edges, pods, namespaces, seed)`` lays out a mesh the way Istio's proxies
report one: every workload edge is reported by the client's pods (``reporter="source"``) and by
the server's pods (``reporter="destination"``), each pod with its own series and the pod-level
labels a Kubernetes scrape adds (``pod``, ``namespace``, ``app``, ``version``); 20 duration
buckets (Istio's defaults); a few edges with 5xx, gRPC errors, fault-injected aborts seen only by
the source, traffic from outside the mesh seen only by the destination, and TCP edges.
Everything is deterministic from the seed: counters grow at fixed rates from ``epoch``, so any
``rate()`` over the scraped data returns the edge's rate.

``serve(mesh)`` starts a threaded HTTP server on 127.0.0.1: ``/metrics/<shard>`` answers one
namespace's pods in the text exposition format, so Prometheus scrapes the mesh as 40 targets of a
few thousand series each rather than one huge one. ``scrape_config(port, mesh)`` is the matching
``scrape_configs`` entry.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOUNDS = ("0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000",
          "30000", "60000", "300000", "600000", "1800000", "3600000", "+Inf")  # fmt: skip
CLUSTER = "Kubernetes"


@dataclass(frozen=True)
class Workload:
    namespace: str
    app: str
    version: str

    @property
    def name(self) -> str:
        return f"{self.app}-{self.version}"


@dataclass(frozen=True)
class EdgeTraffic:
    """One workload edge: ``rate`` requests/s (bytes/s sent for TCP), its outcomes and latency."""

    source: Workload | None  # None: from outside the mesh (reported by the destination only)
    destination: Workload
    protocol: str
    rate: float
    error_share: float = 0.0  # 503 (HTTP) or gRPC status 14 (gRPC)
    abort_share: float = 0.0  # fault-injected 500s, reported by the source only
    median_ms: float = 20.0


@dataclass
class SyntheticMesh:
    """The mesh: ``services`` apps in ``namespaces`` namespaces, about ``edges`` workload edges."""

    services: int = 1000
    edges: int = 2000
    pods: int = 2
    namespaces: int = 40
    seed: int = 11
    epoch: float = field(default_factory=lambda: time.time() - 3600)
    workloads: list[Workload] = field(init=False)
    traffic: list[EdgeTraffic] = field(init=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        per_ns = max(1, self.services // self.namespaces)
        self.workloads = []
        for index in range(self.services):
            namespace = f"ns-{min(index // per_ns, self.namespaces - 1):02d}"
            self.workloads.append(Workload(namespace, f"svc-{index:05d}", "v1"))
            if index % 10 == 0:  # one app in ten runs a second version
                self.workloads.append(Workload(namespace, f"svc-{index:05d}", "v2"))
        by_ns: dict[str, list[Workload]] = {}
        for workload in self.workloads:
            by_ns.setdefault(workload.namespace, []).append(workload)
        seen: set[tuple[Workload | None, Workload, str]] = set()
        self.traffic = []
        # Traffic from outside the mesh into the first app of every namespace.
        for members in by_ns.values():
            self.traffic.append(EdgeTraffic(None, members[0], "http", rng.uniform(5, 50), median_ms=30))
        while len(self.traffic) < self.edges:
            source = rng.choice(self.workloads)
            pool = by_ns[source.namespace] if rng.random() < 0.7 else self.workloads
            destination = rng.choice(pool)
            if destination.app == source.app:
                continue
            roll = rng.random()
            protocol = "tcp" if roll < 0.05 else "grpc" if roll < 0.15 else "http"
            if (source, destination, protocol) in seen:
                continue
            seen.add((source, destination, protocol))
            self.traffic.append(EdgeTraffic(
                source, destination, protocol, rate=math.exp(rng.uniform(-2.0, 4.0)),
                error_share=rng.uniform(0.01, 0.2) if rng.random() < 0.1 else 0.0,
                abort_share=rng.uniform(0.05, 0.2) if rng.random() < 0.03 and protocol == "http" else 0.0,
                median_ms=math.exp(rng.uniform(math.log(2), math.log(400))),
            ))  # fmt: skip

    def shards(self) -> list[str]:
        """The namespaces, one scrape target each."""
        return sorted({workload.namespace for workload in self.workloads})


def _labels(pairs: dict[str, str]) -> str:
    return ",".join(f'{name}="{value}"' for name, value in pairs.items())


def _cdf(bound: float, median_ms: float) -> float:
    """Share of requests at or below ``bound`` ms for a log-normal latency (sigma 0.7)."""
    if bound == math.inf:
        return 1.0
    return 0.5 * (1.0 + math.erf(math.log(bound / median_ms) / (0.7 * math.sqrt(2.0))))


def _pod_labels(workload: Workload, pod: int) -> dict[str, str]:
    return {
        "namespace": workload.namespace,
        "pod": f"{workload.name}-7d4b9c{pod:02d}f-x{pod}k",
        "app": workload.app,
        "version": workload.version,
    }


def _edge_labels(reporter: str, edge: EdgeTraffic, *, aborted: bool = False) -> dict[str, str]:
    source, destination = edge.source, edge.destination
    host = f"{destination.app}.{destination.namespace}.svc.cluster.local"
    unknown_destination = aborted
    return {
        "reporter": reporter,
        "source_workload": source.name if source else "unknown",
        "source_workload_namespace": source.namespace if source else "unknown",
        "source_principal": f"spiffe://cluster.local/ns/{source.namespace}/sa/{source.app}" if source else "unknown",
        "source_app": source.app if source else "unknown",
        "source_version": source.version if source else "unknown",
        "source_canonical_service": source.app if source else "unknown",
        "source_canonical_revision": source.version if source else "latest",
        "source_cluster": CLUSTER if source else "unknown",
        "destination_workload": "unknown" if unknown_destination else destination.name,
        "destination_workload_namespace": "unknown" if unknown_destination else destination.namespace,
        "destination_principal": "unknown" if unknown_destination else
        f"spiffe://cluster.local/ns/{destination.namespace}/sa/{destination.app}",
        "destination_app": "unknown" if unknown_destination else destination.app,
        "destination_version": "unknown" if unknown_destination else destination.version,
        "destination_service": host,
        "destination_service_name": destination.app,
        "destination_service_namespace": destination.namespace,
        "destination_canonical_service": "unknown" if unknown_destination else destination.app,
        "destination_canonical_revision": "latest" if unknown_destination else destination.version,
        "destination_cluster": "unknown" if unknown_destination else CLUSTER,
        "request_protocol": edge.protocol,
        "connection_security_policy": "mutual_tls" if reporter == "destination" else "unknown",
    }  # fmt: skip


class _Series(list):
    """``(metric name, label text, rate per second)`` of one scrape target."""


def _reports(edge: EdgeTraffic) -> list[tuple[Workload, dict[str, str], float]]:
    """(reporting workload, edge labels, share of the edge's traffic) per reporting side."""
    reports = []
    if edge.source is not None:
        reports.append((edge.source, _edge_labels("source", edge), 1.0 - edge.abort_share))
    reports.append((edge.destination, _edge_labels("destination", edge), 1.0 - edge.abort_share))
    return reports


def target_series(mesh: SyntheticMesh) -> dict[str, _Series]:
    """Every series the mesh exports, grouped by scrape target (the reporting pod's namespace)."""
    targets: dict[str, _Series] = {shard: _Series() for shard in mesh.shards()}
    bounds = [float(bound) for bound in BOUNDS]
    for edge in mesh.traffic:
        for workload, labels, share in _reports(edge):
            for pod in range(mesh.pods):
                pod_share = share / mesh.pods
                common = {**labels, **_pod_labels(workload, pod)}
                out = targets[workload.namespace]
                if edge.protocol == "tcp":
                    tcp = _labels({**common, "response_flags": "-"})
                    out.append(("istio_tcp_sent_bytes_total", tcp, edge.rate * pod_share * 1000))
                    out.append(("istio_tcp_received_bytes_total", tcp, edge.rate * pod_share * 300))
                    out.append(("istio_tcp_connections_opened_total", tcp, edge.rate * pod_share * 0.1))
                    continue
                rate = edge.rate * pod_share
                outcomes = [("200", "0" if edge.protocol == "grpc" else "", 1.0 - edge.error_share)]
                if edge.error_share:
                    outcomes.append(("200", "14", edge.error_share) if edge.protocol == "grpc"
                                    else ("503", "", edge.error_share))  # fmt: skip
                for code, grpc_status, outcome_share in outcomes:
                    request = _labels({**common, "response_code": code, "grpc_response_status": grpc_status,
                                       "response_flags": "-"})  # fmt: skip
                    outcome_rate = rate * outcome_share
                    out.append(("istio_requests_total", request, outcome_rate))
                    for text, bound in zip(BOUNDS, bounds, strict=True):
                        out.append(("istio_request_duration_milliseconds_bucket", f'{request},le="{text}"',
                                    outcome_rate * _cdf(bound, edge.median_ms)))  # fmt: skip
                    out.append(("istio_request_duration_milliseconds_sum", request,
                                outcome_rate * edge.median_ms * math.exp(0.7**2 / 2)))  # fmt: skip
                    out.append(("istio_request_duration_milliseconds_count", request, outcome_rate))
        if edge.abort_share and edge.source is not None:
            # A fault-injected abort: the client's proxy answers 500 itself; no destination saw it.
            aborted = {**_edge_labels("source", edge, aborted=True), "response_code": "500",
                       "grpc_response_status": "", "response_flags": "FI"}  # fmt: skip
            for pod in range(mesh.pods):
                common = _labels({**aborted, **_pod_labels(edge.source, pod)})
                rate = edge.rate * edge.abort_share / mesh.pods
                out = targets[edge.source.namespace]
                out.append(("istio_requests_total", common, rate))
                for text in BOUNDS:
                    out.append(("istio_request_duration_milliseconds_bucket", f'{common},le="{text}"', rate))
                out.append(("istio_request_duration_milliseconds_sum", common, rate * 0.2))
                out.append(("istio_request_duration_milliseconds_count", common, rate))
    return targets


def exposition(series: _Series, seconds: float) -> bytes:
    """The text exposition of ``series`` after ``seconds`` of traffic (counters = rate * seconds),
    each metric family's lines together under one ``# TYPE`` line."""
    families: dict[str, list[str]] = {}
    for name, labels, rate in series:
        family = name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        lines = families.get(family)
        if lines is None:
            kind = "histogram" if family.endswith("_milliseconds") else "counter"
            lines = families[family] = [f"# TYPE {family} {kind}"]
        lines.append(f"{name}{{{labels}}} {rate * seconds:.6f}")
    return ("\n".join(line for lines in families.values() for line in lines) + "\n").encode()


class _Handler(BaseHTTPRequestHandler):
    server: _ExporterServer

    def do_GET(self) -> None:
        shard = self.path.rsplit("/", 1)[-1]
        series = self.server.targets.get(shard)
        if series is None:
            self.send_error(404)
            return
        body = exposition(series, time.time() - self.server.epoch)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        return


class _ExporterServer(ThreadingHTTPServer):
    daemon_threads = True
    targets: dict[str, _Series]
    epoch: float


@dataclass
class RunningExporter:
    port: int
    series_count: int
    server: _ExporterServer
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(mesh: SyntheticMesh) -> RunningExporter:
    """Serve the mesh on a free 127.0.0.1 port until ``stop()``."""
    server = _ExporterServer(("127.0.0.1", 0), _Handler)
    server.targets = target_series(mesh)
    server.epoch = mesh.epoch
    thread = threading.Thread(target=server.serve_forever, name="synthetic-istio", daemon=True)
    thread.start()
    count = sum(len(series) for series in server.targets.values())
    return RunningExporter(server.server_address[1], count, server, thread)


def scrape_config(port: int, mesh: SyntheticMesh, interval_s: int = 15) -> str:
    """A ``scrape_configs`` entry (YAML) scraping every shard of the mesh every ``interval_s``."""
    lines = [
        "  - job_name: istio-synthetic",
        f"    scrape_interval: {interval_s}s",
        f"    scrape_timeout: {max(5, interval_s - 5)}s",
        "    honor_labels: true",
        "    static_configs:",
    ]
    for shard in mesh.shards():
        lines += [
            f"      - targets: ['127.0.0.1:{port}']",
            f"        labels: {{__metrics_path__: /metrics/{shard}, instance: 'proxy-{shard}'}}",
        ]
    return "\n".join(lines) + "\n"
