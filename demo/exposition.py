"""The demo mesh as a Prometheus scrape target: Istio's standard metrics in text exposition format.

``DemoExporter`` keeps the demo's counters as an Istio proxy would — cumulative since its start
— by adding the simulator's exact totals for each interval between scrapes, so a Prometheus
that scrapes it computes the same rates as ``DemoTelemetrySource`` reads directly (up to its
own extrapolation at the window's edges). Counters start an hour before the exporter so that
the first scrapes already look like long-running proxies. Values are floats: the demo's
counters are expected values, not integers.

Series carry Istio's full standard label set (principals, app/version, canonical labels,
clusters, protocol, response code, gRPC status, flags, mTLS). ``serve`` answers ``GET /metrics``
over HTTP until ``stop()``.
"""

from __future__ import annotations

import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from demo.mesh import MeshDefinition
from demo.simulate import BUCKET_BOUNDS, UNKNOWN, Simulator, dist_profile
from topology.graph.telemetry import EDGE_LABELS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HISTORY_S = 3600.0
# Istio's label order, as a sidecar emits it.
ISTIO_LABELS: tuple[str, ...] = (
    "reporter",
    "source_workload",
    "source_canonical_service",
    "source_canonical_revision",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_cluster",
    "destination_service",
    "destination_service_namespace",
    "destination_service_name",
    "destination_workload",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_cluster",
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
)
_EDGE = {name: index for index, name in enumerate(EDGE_LABELS)}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class DemoExporter:
    """Cumulative Istio counters of ``simulator``'s mesh since ``start - HISTORY_S``.

    ``render(now)`` advances the counters to ``now`` (never backwards: an earlier ``now`` than
    the last one renders the last state) and returns the exposition text. Thread-safe.
    """

    def __init__(self, simulator: Simulator, *, start: float) -> None:
        self.simulator = simulator
        self.mesh: MeshDefinition = simulator.mesh
        self._time = start - HISTORY_S
        self._lock = threading.Lock()
        # (edge, outcome, csp) -> [count, [bucket counts], duration sum ms]
        self._requests: dict[tuple, list] = {}
        # (edge, flags, csp) -> [sent bytes, received bytes]
        self._tcp: dict[tuple, list[float]] = {}
        self._prefixes: dict[tuple, str] = {}

    @property
    def counters_at(self) -> float:
        """The instant the counters stand at (unix seconds)."""
        return self._time

    def advance(self, now: float) -> None:
        """Add the traffic of ``(last, now]`` to the counters."""
        with self._lock:
            if now <= self._time:
                return
            traffic = self.simulator.traffic(self._time, now)
            for key, (count, dists) in traffic.requests.items():
                acc = self._requests.get(key)
                if acc is None:
                    acc = self._requests[key] = [0.0, [0.0] * len(BUCKET_BOUNDS), 0.0]
                acc[0] += count
                buckets = acc[1]
                for dist, share in dists.items():
                    cdf, mean = dist_profile(dist)
                    for i, fraction in enumerate(cdf):
                        buckets[i] += share * fraction
                    acc[2] += share * mean
            for key, (sent, received) in traffic.tcp.items():
                acc = self._tcp.get(key)
                if acc is None:
                    self._tcp[key] = [sent, received]
                else:
                    acc[0] += sent
                    acc[1] += received
            self._time = now

    def render(self, now: float) -> str:
        """The exposition text of the counters at ``now`` (see ``advance``)."""
        self.advance(now)
        with self._lock:
            lines: list[str] = []
            lines += [
                "# HELP istio_requests_total Total requests.",
                "# TYPE istio_requests_total counter",
            ]
            for (edge, outcome, policy), (count, _, _) in self._requests.items():
                lines.append(
                    f"istio_requests_total{{{self._labels(edge, outcome, policy)}}} {_number(count)}"
                )
            lines += [
                "# HELP istio_request_duration_milliseconds Request duration in milliseconds.",
                "# TYPE istio_request_duration_milliseconds histogram",
            ]
            for (edge, outcome, policy), (count, buckets, total_ms) in self._requests.items():
                labels = self._labels(edge, outcome, policy)
                for le, value in zip(BUCKET_BOUNDS, buckets, strict=True):
                    lines.append(
                        f'istio_request_duration_milliseconds_bucket{{{labels},le="{le}"}} {_number(value)}'
                    )
                lines.append(f"istio_request_duration_milliseconds_sum{{{labels}}} {_number(total_ms)}")
                lines.append(f"istio_request_duration_milliseconds_count{{{labels}}} {_number(count)}")
            for index, (metric, help_text) in enumerate(
                (
                    ("istio_tcp_sent_bytes_total", "Bytes sent during a TCP connection."),
                    ("istio_tcp_received_bytes_total", "Bytes received during a TCP connection."),
                )
            ):
                lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
                for (edge, flags, policy), values in self._tcp.items():
                    labels = self._labels(edge, ("", "", flags), policy, tcp=True)
                    lines.append(f"{metric}{{{labels}}} {_number(values[index])}")
            return "\n".join(lines) + "\n"

    def _labels(self, edge: tuple, outcome: tuple[str, str, str], policy: str, *, tcp: bool = False) -> str:
        key = (edge, outcome, policy, tcp)
        text = self._prefixes.get(key)
        if text is None:
            values = self._istio_labels(edge, outcome, policy)
            if tcp:
                values.pop("response_code")
                values.pop("grpc_response_status")
            text = self._prefixes[key] = ",".join(
                f'{name}="{_escape(value)}"' for name, value in values.items()
            )
        return text

    def _istio_labels(self, edge: tuple, outcome: tuple[str, str, str], policy: str) -> dict[str, str]:
        """Every standard label of a series, derived from its edge and the mesh definition."""
        mesh = self.mesh

        def get(name: str) -> str:
            return edge[_EDGE[name]]

        reporter = get("reporter")
        service = mesh.service_index.get(
            (get("destination_service_namespace"), get("destination_service_name"))
        )
        # Source reports say "unknown" for the policy; the peer identities are there with mTLS all the same.
        mtls = policy == "mutual_tls" or (reporter == "source" and service is not None and service.mtls)
        source = mesh.workload_index.get((get("source_workload_namespace"), get("source_workload")))
        dest = mesh.workload_index.get((get("destination_workload_namespace"), get("destination_workload")))

        def principal(workload, known: bool) -> str:
            if workload is None or not known:
                return UNKNOWN
            return f"spiffe://{mesh.domain}/ns/{workload.namespace}/sa/{workload.service_account}"

        def version(workload) -> str:
            return workload.version if workload is not None and workload.version != "latest" else UNKNOWN

        values = {name: "" for name in ISTIO_LABELS}
        for name in EDGE_LABELS:
            values[name] = get(name)
        values.update(
            source_principal=principal(source, reporter == "source" or mtls),
            source_app=source.app if source is not None else UNKNOWN,
            source_version=version(source),
            destination_principal=principal(dest, reporter == "destination" or mtls),
            destination_app=dest.app if dest is not None else UNKNOWN,
            destination_version=version(dest),
            response_code=outcome[0],
            grpc_response_status=outcome[1],
            response_flags=outcome[2],
            connection_security_policy=policy,
        )
        return values


class _Handler(BaseHTTPRequestHandler):
    server: _ExporterServer

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self._reply(404, "text/plain; charset=utf-8", b"not found: try /metrics\n")
            return
        body = self.server.exporter.render(self.server.clock()).encode()
        self._reply(200, CONTENT_TYPE, body)

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # One line per scrape would drown the log; errors still go through log_error.
        return


class _ExporterServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], exporter: DemoExporter, clock) -> None:
        super().__init__(address, _Handler)
        self.exporter = exporter
        self.clock = clock


def make_server(exporter: DemoExporter, host: str, port: int, clock) -> ThreadingHTTPServer:
    """An HTTP server (bound, not yet serving) answering ``GET /metrics`` with
    ``exporter.render(clock())``; raises ``OSError`` when the address is taken."""
    return _ExporterServer((host, port), exporter, clock)
