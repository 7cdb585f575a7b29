"""Istio VirtualService/DestinationRule → the traffic model of one service (pure: no Django).

Resources are plain dicts shaped like the Kubernetes objects (``apiVersion``, ``kind``,
``metadata``, ``spec``). What meshui manages in a VirtualService for service S:

* the **default route**: the first HTTP route without ``match``; its destinations to S give
  ``weights`` (one destination without weight = that subset at 100; a destination without
  subset = all versions, ``{}``), and its ``fault``/``timeout``/``retries``;
* the **match routes**: HTTP routes with a non-empty ``match`` whose only fields are ``match``
  and ``route`` and whose destinations all go to a subset of S.

Every other route and field is hand-written routing meshui reads around and never changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from traffic.specs import (
    Abort,
    CircuitBreaker,
    Delay,
    Fault,
    MatchRoute,
    Retries,
    Subset,
    TrafficSpec,
)

VIRTUAL_SERVICE = "VirtualService"
DESTINATION_RULE = "DestinationRule"
API_VERSION = "networking.istio.io/v1"
MANAGED_BY = "app.kubernetes.io/managed-by"
MESHUI = "meshui"
OWNERS = ("meshui", "unmanaged", "flagger", "argo-rollouts", "none")
_ROUTE_KEYS = frozenset({"match", "route"})
_ENTRY_KEYS = frozenset({"destination", "weight"})
_DESTINATION_KEYS = frozenset({"host", "subset", "port"})
ARGO_MANAGED_ANNOTATION = "argo-rollouts.argoproj.io/managed-by-rollouts"
ARGO_HASH_LABEL = "rollouts-pod-template-hash"
FLAGGER_ORIGINAL_ANNOTATION = "flagger.kubernetes.io/original-configuration"


def metadata(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    return resource.get("metadata") or {}


def name_of(resource: Mapping[str, Any]) -> str:
    return str(metadata(resource).get("name", ""))


def namespace_of(resource: Mapping[str, Any], default: str = "default") -> str:
    return str(metadata(resource).get("namespace") or default)


def spec_of(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    return resource.get("spec") or {}


def canonical_host(host: str, namespace: str, domain: str = "cluster.local") -> str:
    """The FQDN a host means in ``namespace``: ``reviews`` → ``reviews.<namespace>.svc.<domain>``.

    ``reviews.bookinfo`` and ``reviews.bookinfo.svc`` are completed the same way; other hosts
    (external names, wildcards, FQDNs) are returned as they are.
    """
    parts = host.split(".")
    if "*" in host:
        return host
    if len(parts) == 1:
        return f"{host}.{namespace}.svc.{domain}"
    if len(parts) == 2:
        return f"{host}.svc.{domain}"
    if len(parts) == 3 and parts[2] == "svc":
        return f"{host}.{domain}"
    return host


def refers_to(host: str, resource_namespace: str, namespace: str, service: str) -> bool:
    """True when ``host`` written in a resource of ``resource_namespace`` is service ``namespace/service``."""
    return canonical_host(host, resource_namespace) == f"{service}.{namespace}.svc.cluster.local"


def is_meshui(resource: Mapping[str, Any] | None) -> bool:
    return resource is not None and (metadata(resource).get("labels") or {}).get(MANAGED_BY) == MESHUI


def virtual_services_for(resources: Iterable[Mapping[str, Any]], namespace: str, service: str) -> list[dict]:
    """The VirtualServices of ``namespace`` with a host that is the service; meshui's first, then by name."""
    found = [
        r for r in resources
        if r.get("kind") == VIRTUAL_SERVICE and namespace_of(r) == namespace
        and any(refers_to(str(h), namespace, namespace, service) for h in spec_of(r).get("hosts") or [])
    ]  # fmt: skip
    return sorted(found, key=lambda r: (not is_meshui(r), name_of(r)))


def destination_rules_for(resources: Iterable[Mapping[str, Any]], namespace: str, service: str) -> list[dict]:
    """The DestinationRules of ``namespace`` whose host is the service; meshui's first, then by name."""
    found = [
        r for r in resources
        if r.get("kind") == DESTINATION_RULE and namespace_of(r) == namespace
        and refers_to(str(spec_of(r).get("host", "")), namespace, namespace, service)
    ]  # fmt: skip
    return sorted(found, key=lambda r: (not is_meshui(r), name_of(r)))


def default_route_index(vs: Mapping[str, Any]) -> int | None:
    """Index of the first HTTP route without ``match`` (Istio's catch-all), or None."""
    for index, route in enumerate(spec_of(vs).get("http") or []):
        if not route.get("match"):
            return index
    return None


def entries_weights(entries: Any, vs_namespace: str, namespace: str, service: str) -> dict[str, int] | None:
    """Subset → weight of route destinations when they are all subsets of the service, else None.

    A single destination without subset means all versions: ``{}``. A single destination
    without weight is at 100 (Istio's rule).
    """
    if not isinstance(entries, list) or not entries:
        return None
    weights: dict[str, int] = {}
    for entry in entries:
        destination = entry.get("destination") or {} if isinstance(entry, dict) else {}
        if set(entry) - _ENTRY_KEYS or set(destination) - _DESTINATION_KEYS:
            return None
        if not refers_to(str(destination.get("host", "")), vs_namespace, namespace, service):
            return None
        subset = destination.get("subset")
        if subset is None:
            return {} if len(entries) == 1 else None
        if subset in weights:
            return None
        weight = entry.get("weight")
        if weight is None and len(entries) > 1:
            return None
        weights[str(subset)] = 100 if weight is None else int(weight)
    return weights


def managed_route_indexes(vs: Mapping[str, Any], namespace: str, service: str) -> list[int]:
    """Indexes of the HTTP match routes meshui manages (see the module docstring)."""
    vs_namespace = namespace_of(vs, namespace)
    default = default_route_index(vs)
    found = []
    for index, route in enumerate(spec_of(vs).get("http") or []):
        if default is not None and index > default:
            break
        if not route.get("match") or set(route) - _ROUTE_KEYS:
            continue
        weights = entries_weights(route.get("route"), vs_namespace, namespace, service)
        if weights:
            found.append(index)
    return found


def _percent(raw: Mapping[str, Any]) -> float | None:
    if isinstance(raw.get("percentage"), dict) and "value" in raw["percentage"]:
        return float(raw["percentage"]["value"])
    return None


def parse_fault(raw: Any) -> Fault | None:
    """The model of an Istio HTTPFaultInjection, or None when it uses fields meshui does not model."""
    if not isinstance(raw, dict) or set(raw) - {"abort", "delay"}:
        return None
    abort = delay = None
    if "abort" in raw:
        value = raw["abort"] or {}
        percent = _percent(value)
        if set(value) - {"httpStatus", "percentage"} or "httpStatus" not in value or percent is None:
            return None
        abort = Abort(int(value["httpStatus"]), percent)
    if "delay" in raw:
        value = raw["delay"] or {}
        percent = _percent(value)
        if set(value) - {"fixedDelay", "percentage"} or "fixedDelay" not in value or percent is None:
            return None
        delay = Delay(str(value["fixedDelay"]), percent)
    return Fault(abort, delay) if abort or delay else None


def parse_retries(raw: Any) -> Retries | None:
    if not isinstance(raw, dict) or "attempts" not in raw or set(raw) - {"attempts", "perTryTimeout", "retryOn"}:
        return None
    return Retries(int(raw["attempts"]), raw.get("perTryTimeout"), raw.get("retryOn"))


def parse_circuit_breaker(dr: Mapping[str, Any] | None) -> CircuitBreaker | None:
    """The modelled part of ``trafficPolicy.connectionPool``/``outlierDetection``, or None."""
    if dr is None:
        return None
    policy = spec_of(dr).get("trafficPolicy") or {}
    pool = policy.get("connectionPool") or {}
    tcp, http = pool.get("tcp") or {}, pool.get("http") or {}
    outlier = policy.get("outlierDetection") or {}
    values = {
        "max_connections": tcp.get("maxConnections"),
        "http1_max_pending_requests": http.get("http1MaxPendingRequests"),
        "http2_max_requests": http.get("http2MaxRequests"),
        "max_requests_per_connection": http.get("maxRequestsPerConnection"),
        "max_retries": http.get("maxRetries"),
        "consecutive_5xx_errors": outlier.get("consecutive5xxErrors"),
        "interval": outlier.get("interval"),
        "base_ejection_time": outlier.get("baseEjectionTime"),
        "max_ejection_percent": outlier.get("maxEjectionPercent"),
    }
    present = {key: value for key, value in values.items() if value is not None}
    return CircuitBreaker(**present) if present else None


@dataclass(frozen=True)
class ParsedService:
    """The model of one service and the resources it was read from.

    ``vs``/``dr`` are the resources meshui edits (``None``: none exists); ``others`` are further
    VirtualServices/DestinationRules for the same host (left alone, reported by validation);
    ``default_editable`` is False when the default route sends traffic elsewhere than the
    service's subsets (meshui then refuses to change weights, fault, timeout and retries).
    """

    spec: TrafficSpec
    vs: dict | None
    dr: dict | None
    owner: str
    available_subsets: tuple[Subset, ...]
    default_editable: bool = True
    others: tuple[dict, ...] = field(default_factory=tuple)


def parse_service(
    resources: Sequence[Mapping[str, Any]],
    namespace: str,
    service: str,
    seen_versions: Sequence[str] = (),
) -> ParsedService:
    """Read the model of ``namespace/service`` from every resource of its namespace.

    ``seen_versions`` are the ``version`` labels telemetry saw on the service's workloads:
    they are the subsets when no DestinationRule exists, and subsets the operator may add.
    """
    services = virtual_services_for(resources, namespace, service)
    rules = destination_rules_for(resources, namespace, service)
    vs = services[0] if services else None
    dr = rules[0] if rules else None
    subsets = tuple(
        Subset(str(s.get("name")), dict(s.get("labels") or {})) for s in spec_of(dr).get("subsets") or []
    ) if dr else ()  # fmt: skip
    if dr is None:
        subsets = tuple(Subset(v, {"version": v}) for v in seen_versions)
    names = {s.name for s in subsets}
    available = subsets + tuple(Subset(v, {"version": v}) for v in seen_versions if v not in names)
    weights: dict[str, int] = {}
    routes: list[MatchRoute] = []
    fault = timeout = retries = None
    editable = True
    if vs is not None:
        vs_namespace = namespace_of(vs, namespace)
        http = spec_of(vs).get("http") or []
        for index in managed_route_indexes(vs, namespace, service):
            route = http[index]
            routes.append(MatchRoute(tuple(dict(m) for m in route["match"]),
                                     entries_weights(route["route"], vs_namespace, namespace, service) or {}))
        default = default_route_index(vs)
        if default is not None:
            route = http[default]
            parsed = entries_weights(route.get("route"), vs_namespace, namespace, service)
            editable = parsed is not None
            weights = parsed or {}
            fault = parse_fault(route.get("fault"))
            timeout = route.get("timeout")
            retries = parse_retries(route.get("retries"))
    spec = TrafficSpec(
        namespace, service, subsets, weights, tuple(routes), fault, timeout, retries, parse_circuit_breaker(dr)
    )
    owner = owner_of([r for r in (vs, dr) if r is not None], resources)
    others = tuple(services[1:] + rules[1:])
    return ParsedService(spec, vs, dr, owner, available, editable, others)


def _foreign_owner(resource: Mapping[str, Any]) -> str | None:
    meta = metadata(resource)
    annotations = meta.get("annotations") or {}
    for reference in meta.get("ownerReferences") or []:
        api = str(reference.get("apiVersion", ""))
        if api.startswith("flagger.app/"):
            return "flagger"
        if api.startswith("argoproj.io/") and reference.get("kind") == "Rollout":
            return "argo-rollouts"
    if FLAGGER_ORIGINAL_ANNOTATION in annotations:
        return "flagger"
    if ARGO_MANAGED_ANNOTATION in annotations:
        return "argo-rollouts"
    for entry in meta.get("managedFields") or []:
        manager = str(entry.get("manager", ""))
        if manager == "rollouts-controller":
            return "argo-rollouts"
        if manager == "flagger":
            return "flagger"
    for subset in spec_of(resource).get("subsets") or []:
        if ARGO_HASH_LABEL in (subset.get("labels") or {}):
            return "argo-rollouts"
    return None


def _referenced_by_controllers(resource: Mapping[str, Any], everything: Iterable[Mapping[str, Any]]) -> str | None:
    """``argo-rollouts``/``flagger`` when a Rollout or Canary in the same namespace names ``resource``."""
    name, namespace = name_of(resource), namespace_of(resource)
    for other in everything:
        if namespace_of(other) != namespace:
            continue
        spec = spec_of(other)
        if other.get("kind") == "Rollout":
            istio = (((spec.get("strategy") or {}).get("canary") or {}).get("trafficRouting") or {}).get("istio") or {}
            names = [(istio.get("virtualService") or {}).get("name"), (istio.get("destinationRule") or {}).get("name")]
            names += [vs.get("name") for vs in istio.get("virtualServices") or []]
            if name in names:
                return "argo-rollouts"
        elif other.get("kind") == "Canary" and str(other.get("apiVersion", "")).startswith("flagger.app/"):
            target = (spec.get("targetRef") or {}).get("name")
            service_name = (spec.get("service") or {}).get("name") or target
            if name in (service_name, f"{service_name}-primary", f"{service_name}-canary"):
                return "flagger"
    return None


def owner_of(resources: Sequence[Mapping[str, Any]], everything: Iterable[Mapping[str, Any]] = ()) -> str:
    """Who manages the routing: ``flagger``/``argo-rollouts`` (any mark on any resource or a
    Rollout/Canary naming one), else ``meshui`` (its label on the VirtualService or, without
    one, on the DestinationRule), ``unmanaged`` (hand-written), or ``none`` (no resource)."""
    if not resources:
        return "none"
    everything = list(everything)
    for resource in resources:
        foreign = _foreign_owner(resource) or _referenced_by_controllers(resource, everything)
        if foreign:
            return foreign
    primary = next((r for r in resources if r.get("kind") == VIRTUAL_SERVICE), resources[0])
    return "meshui" if is_meshui(primary) else "unmanaged"
