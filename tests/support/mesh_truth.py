"""A small Istio mesh with known traffic, written as Prometheus counters.

The truth is a list of ``Stream``s — constant request (or byte) rates from one place to another
with one outcome — in two namespaces (``shop``, ``pay``) of mesh ``mesh1``. ``series()`` turns
it into the counters Istio's proxies would export (each reporter its own series, monotonic,
one point every 15 s for one hour ending at ``DATA_END``), so ``rate(...[w])`` for any window
inside that hour returns the stream's rate exactly. Everything is deterministic.

Covered on purpose: both reporters for in-mesh traffic; a fault-injection abort (FI, source
only, destination workload unknown); upstream failures (UF,URX) and no route (NR), source only;
an unknown source (destination only); a server that reports nothing (source only, destination
workload known); gRPC with a non-zero status; TCP bytes both ways with both
reporters; 4xx and 5xx; an external destination (PassthroughCluster); mTLS and plain text;
canonical service/revision labels; duration histograms with known buckets; request/response
size histograms (``_sum`` and ``_count`` only) on two HTTP streams, frontend → cart-v1 and
cart-v1 → payments, the other streams carrying none.

Also written, outside the mesh: one stream of another mesh (``mesh_id="other"``, to prove the
scope matcher) and ``meshui_hostile_probe`` series whose ``value`` labels are hostile strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tests.support.prometheus import MetricSeries

STEP_S = 15
SPAN_S = 3600
# A fixed instant (2023-11-14T22:15:00Z, a multiple of 15 s) so every run writes the same data.
DATA_END = 1_700_000_100
DATA_START = DATA_END - SPAN_S
CLUSTER = "Kubernetes"
MESH = "mesh1"
SCOPE = 'mesh_id="mesh1"'
BUCKETS: tuple[float, ...] = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


@dataclass(frozen=True)
class Workload:
    namespace: str
    name: str
    app: str
    version: str


@dataclass(frozen=True)
class Service:
    """A destination service; ``namespace`` is ``"unknown"`` for traffic leaving the registry."""

    namespace: str
    name: str
    host: str


def svc(namespace: str, name: str) -> Service:
    return Service(namespace, name, f"{name}.{namespace}.svc.cluster.local")


@dataclass(frozen=True)
class Stream:
    """Constant traffic: ``rate`` requests/s (HTTP, gRPC) or connections' bytes/s (TCP).

    ``source``/``destination`` ``None`` mean Istio could not tell (labels ``unknown``).
    ``latency`` maps a bucket upper bound (ms) to the share of requests at or below it but
    above the previous bound; ``mean_ms`` is the mean duration (so ``_sum`` rate =
    ``rate * mean_ms``). For TCP, ``rate`` is bytes/s sent by the server to the client
    (``istio_tcp_sent_bytes_total``) and ``received`` bytes/s received from the client.
    ``request_bytes`` / ``response_bytes`` are the mean sizes (bytes) of an HTTP request /
    response: when non-zero, ``istio_request_bytes`` / ``istio_response_bytes`` histograms are
    exported (their ``_sum`` rate = ``rate * size`` bytes/s); zero exports none.
    """

    source: Workload | None
    service: Service
    destination: Workload | None
    protocol: str
    rate: float
    response_code: str = "200"
    grpc_status: str = ""
    flags: str = "-"
    mtls: bool = True
    reporters: tuple[str, ...] = ("source", "destination")
    latency: dict[float, float] = field(default_factory=lambda: {25: 0.5, 50: 0.4, 100: 0.1})
    mean_ms: float = 30.0
    received: float = 0.0
    request_bytes: float = 0.0
    response_bytes: float = 0.0
    mesh: str = MESH

    def labels(self, reporter: str) -> dict[str, str]:
        """The Istio standard labels this stream's series carry when ``reporter`` reports it."""
        src, dst, service = self.source, self.destination, self.service
        labels = {
            "mesh_id": self.mesh,
            "reporter": reporter,
            "source_cluster": CLUSTER if src else "unknown",
            "source_workload_namespace": src.namespace if src else "unknown",
            "source_workload": src.name if src else "unknown",
            "source_canonical_service": src.app if src else "unknown",
            "source_canonical_revision": src.version if src else "unknown",
            "source_app": src.app if src else "unknown",
            "source_version": src.version if src else "unknown",
            "source_principal": f"spiffe://cluster.local/ns/{src.namespace}/sa/{src.app}"
            if src
            else "unknown",
            "destination_cluster": CLUSTER if dst else "unknown",
            "destination_service": service.host,
            "destination_service_name": service.name,
            "destination_service_namespace": service.namespace,
            "destination_workload_namespace": dst.namespace if dst else "unknown",
            "destination_workload": dst.name if dst else "unknown",
            "destination_canonical_service": dst.app if dst else "unknown",
            "destination_canonical_revision": dst.version if dst else "unknown",
            "destination_app": dst.app if dst else "unknown",
            "destination_version": dst.version if dst else "unknown",
            "destination_principal": f"spiffe://cluster.local/ns/{dst.namespace}/sa/{dst.app}"
            if dst
            else "unknown",
            "request_protocol": self.protocol,
            "response_flags": self.flags,
            "connection_security_policy": "unknown"
            if reporter == "source"
            else ("mutual_tls" if self.mtls else "none"),
        }
        if self.protocol != "tcp":
            labels["response_code"] = self.response_code
            labels["grpc_response_status"] = self.grpc_status
        return labels

    def cumulative_buckets(self) -> dict[str, float]:
        """Share of requests at or below each ``le`` (``+Inf`` = 1), in Prometheus' ``le`` spelling."""
        cumulative, running = {}, 0.0
        for bound in BUCKETS:
            running += self.latency.get(bound, 0.0)
            cumulative[_le(bound)] = running
        cumulative["+Inf"] = 1.0
        return cumulative


def _le(bound: float) -> str:
    return repr(float(bound))


# --- the mesh ------------------------------------------------------------------------------
GATEWAY = Workload("shop", "ingressgateway", "ingressgateway", "latest")
FRONTEND = Workload("shop", "frontend-v1", "frontend", "v1")
CART_V1 = Workload("shop", "cart-v1", "cart", "v1")
CART_V2 = Workload("shop", "cart-v2", "cart", "v2")
CATALOG = Workload("shop", "catalog-v1", "catalog", "v1")
PAYMENTS = Workload("pay", "payments-v1", "payments", "v1")
LEDGER = Workload("pay", "ledger-v1", "ledger", "v1")
DB = Workload("pay", "postgres-v1", "postgres", "v1")

FRONTEND_SVC, CART_SVC, CATALOG_SVC = svc("shop", "frontend"), svc("shop", "cart"), svc("shop", "catalog")
PAYMENTS_SVC, LEDGER_SVC, DB_SVC = svc("pay", "payments"), svc("pay", "ledger"), svc("pay", "postgres")
EXTERNAL = Service("unknown", "PassthroughCluster", "api.example.com")
NO_ROUTE = Service("unknown", "unknown", "unknown")
SLOW = {100: 0.2, 250: 0.5, 500: 0.2, 1000: 0.1}

STREAMS: tuple[Stream, ...] = (
    Stream(GATEWAY, FRONTEND_SVC, FRONTEND, "http", 10.0),
    Stream(GATEWAY, FRONTEND_SVC, FRONTEND, "http", 0.5, response_code="404"),
    # Traffic from outside the mesh: only the destination proxy saw it.
    Stream(None, FRONTEND_SVC, FRONTEND, "http", 2.0, mtls=False, reporters=("destination",)),
    Stream(FRONTEND, CART_SVC, CART_V1, "http", 4.0, request_bytes=256.0, response_bytes=1024.0),
    Stream(FRONTEND, CART_SVC, CART_V2, "http", 1.0),
    Stream(FRONTEND, CART_SVC, CART_V2, "http", 0.25, response_code="503"),
    # Fault injection aborts in the client proxy: the destination never sees them.
    Stream(FRONTEND, CART_SVC, None, "http", 0.5, response_code="500", flags="FI", reporters=("source",)),
    Stream(FRONTEND, CATALOG_SVC, CATALOG, "grpc", 3.0),
    Stream(FRONTEND, CATALOG_SVC, CATALOG, "grpc", 0.3, grpc_status="14"),
    Stream(
        CART_V1,
        PAYMENTS_SVC,
        PAYMENTS,
        "http",
        2.0,
        latency=SLOW,
        mean_ms=300.0,
        request_bytes=300.0,
        response_bytes=50.0,
    ),
    Stream(CART_V2, PAYMENTS_SVC, PAYMENTS, "http", 1.0, mtls=False, latency=SLOW, mean_ms=300.0),
    Stream(
        CART_V1, PAYMENTS_SVC, None, "http", 0.2, response_code="503", flags="UF,URX", reporters=("source",)
    ),
    Stream(PAYMENTS, LEDGER_SVC, None, "http", 0.1, response_code="404", flags="NR", reporters=("source",)),
    Stream(PAYMENTS, EXTERNAL, None, "http", 0.4, reporters=("source",)),
    # A server whose own proxy reports nothing (its metrics disabled): only the caller, which
    # still names the destination workload, reports these requests and their durations.
    Stream(CATALOG, LEDGER_SVC, LEDGER, "http", 0.6, latency=SLOW, mean_ms=300.0, reporters=("source",)),
    Stream(LEDGER, DB_SVC, DB, "tcp", 2048.0, received=512.0),
)
# Another mesh in the same Prometheus: invisible through the scope matcher.
OTHER_MESH_STREAMS: tuple[Stream, ...] = (
    Stream(Workload("shop", "intruder", "intruder", "v1"), CART_SVC, CART_V1, "http", 7.0, mesh="other"),
)
HOSTILE_VALUES: tuple[str, ...] = (
    '"} or vector(1) #',
    "back\\slash\\",
    'quote"in"side',
    "new\nline\tand\rreturn",
    "ünïcødé ✓ 日本",
    "regex.*|(meta)[chars]+?^$",
)
# Near misses of the hostile values: a naive query would match these too.
HOSTILE_DECOYS: tuple[str, ...] = (
    "",
    '\\"} or vector(1) #',
    "back\\\\slash\\\\",
    "regexXX|meta",
    "regex.",
    "new",
)


def counter_points(rate: float) -> list[tuple[float, float]]:
    """A counter starting at 0 at ``DATA_START`` and growing by ``rate`` per second."""
    return [(float(t), rate * (t - DATA_START)) for t in range(DATA_START, DATA_END + 1, STEP_S)]


def stream_series(stream: Stream) -> Iterator[MetricSeries]:
    """The counters the proxies export for ``stream``."""
    for reporter in stream.reporters:
        labels = stream.labels(reporter)
        if stream.protocol == "tcp":
            yield MetricSeries("istio_tcp_sent_bytes_total", labels, counter_points(stream.rate))
            yield MetricSeries("istio_tcp_received_bytes_total", labels, counter_points(stream.received))
            continue
        yield MetricSeries("istio_requests_total", labels, counter_points(stream.rate))
        yield MetricSeries(
            "istio_request_duration_milliseconds_sum", labels, counter_points(stream.rate * stream.mean_ms)
        )
        yield MetricSeries("istio_request_duration_milliseconds_count", labels, counter_points(stream.rate))
        for metric, size in (
            ("istio_request_bytes", stream.request_bytes),
            ("istio_response_bytes", stream.response_bytes),
        ):
            if size:
                yield MetricSeries(f"{metric}_sum", labels, counter_points(stream.rate * size))
                yield MetricSeries(f"{metric}_count", labels, counter_points(stream.rate))
        for le, share in stream.cumulative_buckets().items():
            yield MetricSeries(
                "istio_request_duration_milliseconds_bucket",
                {**labels, "le": le},
                counter_points(stream.rate * share),
            )


def series() -> list[MetricSeries]:
    """Every series of the test data set: the mesh, the other mesh and the hostile probes."""
    out: list[MetricSeries] = []
    for stream in (*STREAMS, *OTHER_MESH_STREAMS):
        out.extend(stream_series(stream))
    for index, value in enumerate((*HOSTILE_VALUES, *HOSTILE_DECOYS)):
        out.append(MetricSeries("meshui_hostile_probe", {"value": value}, counter_points(float(index + 1))))
    return out


def expected_totals(
    streams: Iterable[Stream],
    key: tuple[str, ...],
    *,
    field_name: str = "rate",
    protocols: tuple[str, ...] = (),
) -> dict[tuple[str, ...], float]:
    """Truth summed by ``key`` labels (``reporter`` included in ``key`` as needed).

    For each stream and each of its reporters, adds ``getattr(stream, field_name)`` (or
    ``rate * mean_ms`` for ``field_name="duration_sum"``) under the tuple of the key labels.
    ``protocols`` limits to those protocols when given.
    """
    totals: dict[tuple[str, ...], float] = {}
    for stream in streams:
        if protocols and stream.protocol not in protocols:
            continue
        value = stream.rate * stream.mean_ms if field_name == "duration_sum" else getattr(stream, field_name)
        for reporter in stream.reporters:
            labels = stream.labels(reporter)
            group = tuple(labels.get(k, "") for k in key)
            totals[group] = totals.get(group, 0.0) + value
    return totals


def histogram_quantile(q: float, buckets: dict[float, float]) -> float:
    """Prometheus' ``histogram_quantile`` over cumulative ``{upper bound: count}`` (``inf`` included).

    Linear interpolation inside the bucket holding rank ``q * total``; a rank in the ``+Inf``
    bucket answers the highest finite bound; the first bucket's lower bound is 0.
    """
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower
