"""What the demo mesh is made of: workloads, services, external hosts and the calls between them.

A ``MeshDefinition`` is pure data; ``demo.simulate`` turns it into Istio telemetry. Two meshes
ship with the product (nothing is read from disk at run time):

* ``bookinfo_mesh()`` — Istio's Bookinfo sample in namespace ``bookinfo`` behind
  ``istio-ingressgateway`` (namespace ``istio-system``), plus a ``shop`` namespace with gRPC,
  a TCP database, clients outside the mesh and two external hosts (a ServiceEntry host and a
  PassthroughCluster host), so every node kind and protocol of the graph shows up;
* ``synthetic_mesh(services, seed)`` — a generated mesh of about ten workload edges per service
  for scale tests and benchmarks.

Who reports what follows from the definition, as in Istio: a call from a workload with a sidecar
is reported by the source; a call to a service with workloads in the mesh is reported by the
destination; a client outside the mesh (``Call.source is None``) has no source report, an
external host has no destination report.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

PROTOCOLS = frozenset({"http", "grpc", "tcp"})
DEFAULT_CLUSTER = "Kubernetes"


@dataclass(frozen=True, slots=True)
class Latency:
    """Server time of a workload: log-normal with this median (ms) and shape ``sigma``."""

    median_ms: float
    sigma: float = 0.5


@dataclass(frozen=True, slots=True)
class Workload:
    """A deployment. ``app``/``version`` become the canonical service/revision labels
    (``version`` ``"latest"`` when the deployment has no version label, as Istio does)."""

    namespace: str
    name: str
    app: str
    version: str = "latest"
    latency: Latency = Latency(10.0)
    service_account: str = "default"
    sidecar: bool = True


@dataclass(frozen=True, slots=True)
class Service:
    """A Kubernetes service in the mesh and the workloads behind it (same namespace).

    Background outcome shares apply to every request that reaches a workload: ``errors_5xx``
    answer ``error_5xx_code``, ``errors_4xx`` answer 404, and for gRPC ``grpc_errors`` answer
    HTTP 200 with ``grpc_error_status``. ``mtls`` is what destination reports say
    (``mutual_tls`` or ``none``).
    """

    namespace: str
    name: str
    protocol: str
    workloads: tuple[str, ...]
    errors_5xx: float = 0.0
    error_5xx_code: str = "500"
    errors_4xx: float = 0.0
    grpc_errors: float = 0.0
    grpc_error_status: str = "2"
    mtls: bool = True

    def host(self, domain: str = "cluster.local") -> str:
        """The service's FQDN, as in ``destination_service``."""
        return f"{self.name}.{self.namespace}.svc.{domain}"


@dataclass(frozen=True, slots=True)
class External:
    """A destination outside the mesh. With ``passthrough`` the call leaves through Istio's
    PassthroughCluster; otherwise ``host`` is a ServiceEntry host declared in ``namespace``."""

    host: str
    namespace: str
    passthrough: bool = False
    latency: Latency = Latency(100.0, 0.6)


@dataclass(frozen=True, slots=True)
class Call:
    """Traffic from ``source`` (``(namespace, workload)``; ``None`` = a client outside the mesh)
    to ``service`` (``(namespace, name)``) or to the external host ``external``.

    ``rate`` is the mean request rate (req/s) — for TCP the mean bytes/s the server sends, the
    client sending ``received_ratio`` times that — while the source workload gets its even
    share of its own service's traffic; routing that changes that share scales the call.
    ``protocol`` defaults to the service's (``http`` for external hosts).
    """

    source: tuple[str, str] | None
    service: tuple[str, str] | None = None
    external: str | None = None
    rate: float = 1.0
    protocol: str | None = None
    received_ratio: float = 0.25


@dataclass(frozen=True)
class MeshDefinition:
    """A whole demo mesh. Raises ``ValueError`` naming the first dangling reference."""

    name: str
    workloads: tuple[Workload, ...]
    services: tuple[Service, ...]
    calls: tuple[Call, ...]
    externals: tuple[External, ...] = ()
    cluster: str = DEFAULT_CLUSTER
    domain: str = "cluster.local"
    workload_index: dict[tuple[str, str], Workload] = field(init=False, repr=False, compare=False)
    service_index: dict[tuple[str, str], Service] = field(init=False, repr=False, compare=False)
    external_index: dict[str, External] = field(init=False, repr=False, compare=False)
    # The service a workload serves (the first that lists it), for routing shares.
    service_of_workload: dict[tuple[str, str], Service] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        workloads = {(w.namespace, w.name): w for w in self.workloads}
        services = {(s.namespace, s.name): s for s in self.services}
        externals = {e.host: e for e in self.externals}
        served: dict[tuple[str, str], Service] = {}
        for service in self.services:
            if service.protocol not in PROTOCOLS:
                raise ValueError(
                    f"service {service.namespace}/{service.name}: unknown protocol {service.protocol!r}"
                )
            if not service.workloads:
                raise ValueError(f"service {service.namespace}/{service.name}: no workloads")
            for name in service.workloads:
                key = (service.namespace, name)
                if key not in workloads:
                    raise ValueError(f"service {service.namespace}/{service.name}: unknown workload {name!r}")
                served.setdefault(key, service)
        for call in self.calls:
            if call.source is not None and call.source not in workloads:
                raise ValueError(f"call from unknown workload {call.source}")
            if (call.service is None) == (call.external is None):
                raise ValueError(f"call from {call.source}: name exactly one of service and external")
            if call.service is not None and call.service not in services:
                raise ValueError(f"call from {call.source}: unknown service {call.service}")
            if call.external is not None and call.external not in externals:
                raise ValueError(f"call from {call.source}: unknown external host {call.external!r}")
            if call.protocol is not None and call.protocol not in PROTOCOLS:
                raise ValueError(f"call from {call.source}: unknown protocol {call.protocol!r}")
            if call.rate < 0:
                raise ValueError(f"call from {call.source}: negative rate")
        object.__setattr__(self, "workload_index", workloads)
        object.__setattr__(self, "service_index", services)
        object.__setattr__(self, "external_index", externals)
        object.__setattr__(self, "service_of_workload", served)

    def protocol_of(self, call: Call) -> str:
        """The protocol ``call`` is made with."""
        if call.protocol is not None:
            return call.protocol
        if call.service is not None:
            return self.service_index[call.service].protocol
        return "http"


def _bookinfo_workload(name: str, app: str, version: str, median_ms: float, sigma: float = 0.45) -> Workload:
    return Workload("bookinfo", name, app, version, Latency(median_ms, sigma), f"bookinfo-{app}")


def bookinfo_mesh() -> MeshDefinition:
    """Bookinfo (namespace ``bookinfo``, mTLS) plus the ``shop`` namespace (mostly plaintext).

    Bookinfo: ``istio-ingressgateway`` → productpage-v1 → details-v1 and reviews-v1/v2/v3;
    reviews-v2 and -v3 → ratings-v1 (reviews-v1 never calls ratings). reviews-v2 is a bit
    slower than v1 and v3 slower still; ratings fails 1.5 % of requests with 503, details
    answers 1 % 404, checkout fails 2 % of its gRPC calls (UNAVAILABLE). Shop: gateway and
    clients outside the mesh → frontend → catalog (gRPC,
    two versions), cart, checkout (gRPC) → payments → api.stripe.com (ServiceEntry),
    notifications → hooks.slack.com (PassthroughCluster), catalog and cart → postgres (TCP, mTLS).
    """
    gateway = Workload(
        "istio-system",
        "istio-ingressgateway",
        "istio-ingressgateway",
        "latest",
        Latency(2.0),
        "istio-ingressgateway-service-account",
    )
    bookinfo = (
        _bookinfo_workload("productpage-v1", "productpage", "v1", 28.0),
        _bookinfo_workload("details-v1", "details", "v1", 4.0),
        _bookinfo_workload("reviews-v1", "reviews", "v1", 9.0),
        _bookinfo_workload("reviews-v2", "reviews", "v2", 14.0),
        _bookinfo_workload("reviews-v3", "reviews", "v3", 45.0, 0.55),
        _bookinfo_workload("ratings-v1", "ratings", "v1", 3.0),
    )
    shop = (
        Workload("shop", "frontend-v1", "frontend", "v1", Latency(35.0, 0.5), "frontend"),
        Workload("shop", "catalog-v1", "catalog", "v1", Latency(12.0, 0.5), "catalog"),
        Workload("shop", "catalog-v2", "catalog", "v2", Latency(8.0, 0.4), "catalog"),
        Workload("shop", "cart-v1", "cart", "v1", Latency(6.0, 0.4), "cart"),
        Workload("shop", "checkout-v1", "checkout", "v1", Latency(60.0, 0.6), "checkout"),
        Workload("shop", "payments-v1", "payments", "v1", Latency(150.0, 0.5), "payments"),
        Workload("shop", "notifications-v1", "notifications", "v1", Latency(20.0, 0.5), "notifications"),
        Workload("shop", "postgres", "postgres", "latest", Latency(2.0, 0.5), "postgres"),
    )
    services = (
        Service("bookinfo", "productpage", "http", ("productpage-v1",), errors_4xx=0.004),
        Service("bookinfo", "details", "http", ("details-v1",), errors_4xx=0.01),
        Service("bookinfo", "reviews", "http", ("reviews-v1", "reviews-v2", "reviews-v3")),
        Service("bookinfo", "ratings", "http", ("ratings-v1",), errors_5xx=0.015, error_5xx_code="503"),
        Service("shop", "frontend", "http", ("frontend-v1",), errors_4xx=0.02, mtls=False),
        Service(
            "shop",
            "catalog",
            "grpc",
            ("catalog-v1", "catalog-v2"),
            mtls=False,
        ),
        Service("shop", "cart", "http", ("cart-v1",), mtls=False),
        Service(
            "shop", "checkout", "grpc", ("checkout-v1",), grpc_errors=0.02, grpc_error_status="14", mtls=False
        ),
        Service("shop", "payments", "http", ("payments-v1",), errors_4xx=0.03, mtls=False),
        Service("shop", "notifications", "http", ("notifications-v1",), mtls=False),
        Service("shop", "postgres", "tcp", ("postgres",)),
    )
    externals = (
        External("api.stripe.com", "shop", passthrough=False, latency=Latency(180.0, 0.5)),
        External("hooks.slack.com", "shop", passthrough=True, latency=Latency(90.0, 0.6)),
    )
    gw = ("istio-system", "istio-ingressgateway")
    calls = (
        Call(gw, ("bookinfo", "productpage"), rate=6.0),
        Call(("bookinfo", "productpage-v1"), ("bookinfo", "details"), rate=6.0),
        Call(("bookinfo", "productpage-v1"), ("bookinfo", "reviews"), rate=6.0),
        Call(("bookinfo", "reviews-v2"), ("bookinfo", "ratings"), rate=2.0),
        Call(("bookinfo", "reviews-v3"), ("bookinfo", "ratings"), rate=2.0),
        Call(gw, ("shop", "frontend"), rate=4.0),
        Call(None, ("shop", "frontend"), rate=0.8),
        Call(("shop", "frontend-v1"), ("shop", "catalog"), rate=9.0),
        Call(("shop", "frontend-v1"), ("shop", "cart"), rate=3.0),
        Call(("shop", "frontend-v1"), ("shop", "checkout"), rate=0.6),
        Call(("shop", "checkout-v1"), ("shop", "cart"), rate=0.6),
        Call(("shop", "checkout-v1"), ("shop", "payments"), rate=0.6),
        Call(("shop", "checkout-v1"), ("shop", "notifications"), rate=0.5),
        Call(("shop", "payments-v1"), external="api.stripe.com", rate=0.6),
        Call(("shop", "notifications-v1"), external="hooks.slack.com", rate=0.5),
        Call(("shop", "catalog-v1"), ("shop", "postgres"), rate=40_000.0, received_ratio=0.1),
        Call(("shop", "catalog-v2"), ("shop", "postgres"), rate=30_000.0, received_ratio=0.1),
        Call(("shop", "cart-v1"), ("shop", "postgres"), rate=8_000.0, received_ratio=0.6),
    )
    return MeshDefinition("bookinfo", (gateway, *bookinfo, *shop), services, calls, externals)


# Share of synthetic services by protocol, and of services by number of versions.
_SYNTHETIC_PROTOCOLS = (("http", 0.75), ("grpc", 0.15), ("tcp", 0.10))
_SYNTHETIC_VERSIONS = ((1, 0.75), (2, 0.2), (3, 0.05))
SYNTHETIC_EDGES_PER_SERVICE = 10
_SERVICES_PER_NAMESPACE = 20


def _pick(rng: random.Random, weighted: tuple[tuple, ...]):
    roll = rng.random()
    for value, weight in weighted:
        roll -= weight
        if roll < 0:
            return value
    return weighted[-1][0]


def synthetic_mesh(services: int, seed: int = 1) -> MeshDefinition:
    """A generated mesh of ``services`` services for scale tests (same ``seed``, same mesh).

    Services are spread over ``ceil(services / 20)`` namespaces (at least two); 75 % speak HTTP,
    15 % gRPC and 10 % are TCP databases that call nobody; a quarter have two or three versions.
    Calls only go from a service to one with a higher index (so the graph is a DAG), mostly
    within the namespace, until there are ``10 x services`` workload edges (source workload →
    destination workload). Every namespace's first service takes ingress-gateway traffic, some
    take clients outside the mesh, and about 2 % call one of a few external hosts. Raises
    ``ValueError`` when ``services < 2``.
    """
    if services < 2:
        raise ValueError("services must be at least 2")
    rng = random.Random(f"synthetic:{services}:{seed}")
    namespaces = max(2, math.ceil(services / _SERVICES_PER_NAMESPACE))
    gateway = Workload(
        "istio-system",
        "istio-ingressgateway",
        "istio-ingressgateway",
        "latest",
        Latency(2.0),
        "istio-ingressgateway-service-account",
    )
    workloads: list[Workload] = [gateway]
    svc_list: list[Service] = []
    for index in range(services):
        namespace = f"ns-{index % namespaces:02d}"
        name = f"svc-{index:04d}"
        # The first service of each namespace is its entry point: never a database.
        protocol = "http" if index < namespaces else _pick(rng, _SYNTHETIC_PROTOCOLS)
        versions = _pick(rng, _SYNTHETIC_VERSIONS)
        names = []
        for v in range(1, versions + 1):
            latency = Latency(rng.lognormvariate(math.log(15.0), 0.8), rng.uniform(0.3, 0.7))
            workloads.append(Workload(namespace, f"{name}-v{v}", name, f"v{v}", latency, name))
            names.append(f"{name}-v{v}")
        svc_list.append(
            Service(
                namespace,
                name,
                protocol,
                tuple(names),
                errors_5xx=rng.choice((0.0, 0.0, 0.0, 0.005, 0.02)),
                errors_4xx=rng.choice((0.0, 0.0, 0.01)),
                grpc_errors=0.01 if protocol == "grpc" else 0.0,
                mtls=rng.random() < 0.7,
            )
        )
    externals = tuple(External(f"api{n}.example.com", "ns-00", passthrough=n % 2 == 1) for n in range(3))
    gw = (gateway.namespace, gateway.name)
    calls: list[Call] = []
    edges = 0
    for service in svc_list[:namespaces]:
        calls.append(Call(gw, (service.namespace, service.name), rate=rng.uniform(2.0, 20.0)))
        edges += len(service.workloads)
    for service in svc_list[namespaces : namespaces + max(1, namespaces // 2)]:
        calls.append(Call(None, (service.namespace, service.name), rate=rng.uniform(0.2, 2.0)))
        edges += len(service.workloads)
    callers = [s for s in svc_list[:-1] if s.protocol != "tcp"]
    target_edges = SYNTHETIC_EDGES_PER_SERVICE * services
    seen: set[tuple[tuple[str, str], tuple[str, str]]] = set()
    attempts = 0
    while edges < target_edges and attempts < target_edges * 20:
        attempts += 1
        caller = rng.choice(callers)
        position = int(caller.name[4:])
        source = (caller.namespace, rng.choice(caller.workloads))
        if rng.random() < 0.02:
            call = Call(source, external=rng.choice(externals).host, rate=rng.uniform(0.05, 1.0))
            if (source, (call.external, "")) not in seen:
                seen.add((source, (call.external, "")))
                calls.append(call)
                edges += 1
            continue
        # Mostly callees a little further down in the same namespace, sometimes anywhere further down.
        same_ns = [
            s
            for s in svc_list[position + 1 : position + 1 + 6 * namespaces]
            if s.namespace == caller.namespace
        ]
        pool = same_ns if same_ns and rng.random() < 0.8 else svc_list[position + 1 :]
        target = rng.choice(pool)
        key = (source, (target.namespace, target.name))
        if key in seen:
            continue
        seen.add(key)
        rate = rng.uniform(2_000.0, 50_000.0) if target.protocol == "tcp" else rng.lognormvariate(0.0, 1.0)
        calls.append(Call(source, (target.namespace, target.name), rate=rate))
        edges += len(target.workloads)
    return MeshDefinition(f"synthetic-{services}", tuple(workloads), tuple(svc_list), tuple(calls), externals)
