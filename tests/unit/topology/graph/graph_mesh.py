"""Literal Istio samples for the graph-core tests: one function per metric, labels spelled out."""

from __future__ import annotations

from topology.graph.telemetry import Sample

BOUNDS = ("0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "+Inf")


def _who(side: str, spec: tuple[str, str, str, str] | None) -> dict[str, str]:
    """``spec`` = (namespace, workload, canonical service, revision); ``None`` = unknown."""
    ns, workload, app, version = spec or ("unknown", "unknown", "unknown", "unknown")
    return {
        f"{side}_cluster": "east" if spec else "unknown",
        f"{side}_workload_namespace": ns,
        f"{side}_workload": workload,
        f"{side}_canonical_service": app,
        f"{side}_canonical_revision": version,
    }


def edge(
    reporter: str,
    src: tuple[str, str, str, str] | None,
    dst: tuple[str, str, str, str] | None,
    service: str | None = None,
    protocol: str = "http",
) -> dict[str, str]:
    """The EDGE_LABELS of one series. ``service`` defaults to the destination's canonical service;
    an unknown destination (``dst=None``) with ``service`` set is a request that reached no workload."""
    labels = {"reporter": reporter, **_who("source", src), "request_protocol": protocol}
    dest = _who("destination", dst)
    labels.update({k: v for k, v in dest.items() if k != "destination_workload_namespace"})
    labels["destination_workload_namespace"] = dest["destination_workload_namespace"]
    if service is None and dst is not None:
        service = f"{dst[2]}.{dst[0]}.svc.cluster.local"
    if service is None:
        labels.update(
            destination_service="unknown",
            destination_service_name="unknown",
            destination_service_namespace="unknown",
        )
    elif ".svc." in service:
        name, ns = service.split(".")[:2]
        labels.update(
            destination_service=service, destination_service_name=name, destination_service_namespace=ns
        )
        labels["destination_cluster"] = "east"
    else:
        labels.update(
            destination_service=service,
            destination_service_name="PassthroughCluster" if service == "Passthrough" else service,
            destination_service_namespace="unknown",
        )
    return labels


def req(
    reporter: str,
    src: tuple[str, str, str, str] | None,
    dst: tuple[str, str, str, str] | None,
    value: float,
    code: str = "200",
    flags: str = "-",
    grpc: str = "",
    mtls: bool = False,
    service: str | None = None,
    protocol: str = "http",
) -> Sample:
    """One ``istio_requests_total`` rate series."""
    security = "unknown" if reporter == "source" else ("mutual_tls" if mtls else "none")
    labels = edge(reporter, src, dst, service, protocol)
    labels.update(
        response_code=code,
        grpc_response_status=grpc,
        response_flags=flags,
        connection_security_policy=security,
    )
    return Sample(labels, value)


def both(src: tuple, dst: tuple, value: float, **kwargs: object) -> list[Sample]:
    """The same requests as reported by the source and by the destination proxy."""
    return [req("source", src, dst, value, **kwargs), req("destination", src, dst, value, **kwargs)]


def buckets(reporter: str, src: tuple | None, dst: tuple, counts: dict[str, float]) -> list[Sample]:
    """Duration bucket series; ``counts`` maps ``le`` to the cumulative rate."""
    return [Sample({**edge(reporter, src, dst), "le": le}, value) for le, value in counts.items()]


def duration_sum(reporter: str, src: tuple | None, dst: tuple, value: float) -> Sample:
    """The ``istio_request_duration_milliseconds_sum`` rate series."""
    return Sample(edge(reporter, src, dst), value)


def tcp(reporter: str, src: tuple | None, dst: tuple, value: float, mtls: bool = False) -> Sample:
    """One TCP bytes rate series (sent or received: the labels are the same)."""
    security = "unknown" if reporter == "source" else ("mutual_tls" if mtls else "none")
    labels = edge(reporter, src, dst, protocol="tcp")
    labels.update(response_flags="-", connection_security_policy=security)
    return Sample(labels, value)


FRONT = ("shop", "frontend-v1", "frontend", "v1")
CART1 = ("shop", "cart-v1", "cart", "v1")
CART2 = ("shop", "cart-v2", "cart", "v2")
PAY = ("payments", "pay-v1", "pay", "v1")
DB = ("data", "db-0", "db", "latest")
INGRESS = ("istio-system", "istio-ingressgateway", "istio-ingressgateway", "latest")
