"""The traffic model → Istio ``networking.istio.io/v1`` resources, edited in place (pure: no Django).

``render`` changes only what differs between the model read from the resources (``old``) and
the wanted one (``new``): a field the operator did not change is left byte-for-byte as it was,
so hand-written routing (other routes, unknown fields, labels, annotations) survives.
``plan_writes`` orders the writes make-before-break: a DestinationRule gaining subsets is
written before the VirtualService that uses them; one losing subsets after.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from traffic.parse import (
    API_VERSION,
    DESTINATION_RULE,
    MANAGED_BY,
    MESHUI,
    VIRTUAL_SERVICE,
    default_route_index,
    is_meshui,
    managed_route_indexes,
    name_of,
    namespace_of,
    refers_to,
    spec_of,
)
from traffic.specs import CircuitBreaker, Fault, Retries, Subset, TrafficSpec


@dataclass(frozen=True)
class Write:
    """One step of a change: put ``body`` (or delete when None) at ``kind`` ``namespace/name``.

    ``previous`` is the resource before the step (None: it did not exist), for compensation.
    """

    kind: str
    namespace: str
    name: str
    body: dict | None
    previous: dict | None

    @property
    def label(self) -> str:
        verb = "delete" if self.body is None else ("create" if self.previous is None else "update")
        return f"{verb} {self.kind} {self.namespace}/{self.name}"


def _new_metadata(spec: TrafficSpec) -> dict[str, Any]:
    return {"name": spec.service, "namespace": spec.namespace, "labels": {MANAGED_BY: MESHUI}}


def fault_body(fault: Fault) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if fault.delay is not None:
        body["delay"] = {"fixedDelay": fault.delay.fixed_delay, "percentage": {"value": fault.delay.percent}}
    if fault.abort is not None:
        body["abort"] = {"httpStatus": fault.abort.http_status, "percentage": {"value": fault.abort.percent}}
    return body


def retries_body(retries: Retries) -> dict[str, Any]:
    body: dict[str, Any] = {"attempts": retries.attempts}
    if retries.per_try_timeout is not None:
        body["perTryTimeout"] = retries.per_try_timeout
    if retries.retry_on is not None:
        body["retryOn"] = retries.retry_on
    return body


def _entries(weights: Mapping[str, int], host: str, template: list[dict] | None) -> list[dict]:
    """Route destinations for ``weights``, keeping each existing entry's other fields (port ...)."""
    if not weights:
        return [{"destination": {"host": host}}]
    existing = {
        (entry.get("destination") or {}).get("subset"): entry for entry in template or [] if isinstance(entry, dict)
    }
    entries = []
    for subset, weight in weights.items():
        entry = copy.deepcopy(existing.get(subset)) or {"destination": {"host": host, "subset": subset}}
        entry["weight"] = weight
        entries.append(entry)
    if len(entries) == 1 and entries[0]["weight"] == 100 and "weight" not in (existing.get(next(iter(weights))) or {}):
        # One destination takes everything: Istio's samples leave the weight out.
        del entries[0]["weight"]
    return entries


def _host_for(vs: Mapping[str, Any] | None, spec: TrafficSpec) -> str:
    """The host form destinations use: the VirtualService's own way of naming the service, else the FQDN."""
    if vs is not None:
        namespace = namespace_of(vs, spec.namespace)
        for route in spec_of(vs).get("http") or []:
            for entry in route.get("route") or []:
                host = str((entry.get("destination") or {}).get("host", ""))
                if refers_to(host, namespace, spec.namespace, spec.service):
                    return host
        for host in spec_of(vs).get("hosts") or []:
            if refers_to(str(host), namespace, spec.namespace, spec.service):
                return str(host)
    return spec.host


def _set_or_pop(target: dict, key: str, value: Any) -> None:
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value


def has_routing(spec: TrafficSpec) -> bool:
    return bool(spec.weights or spec.routes or spec.fault or spec.timeout or spec.retries)


def render_virtual_service(old: TrafficSpec, new: TrafficSpec, vs: dict | None) -> dict | None:
    """The VirtualService for ``new``, edited from ``vs`` (``old`` was read from it); None = none."""
    if vs is None and not has_routing(new):
        return None
    host = _host_for(vs, new)
    if vs is None:
        result: dict[str, Any] = {
            "apiVersion": API_VERSION, "kind": VIRTUAL_SERVICE, "metadata": _new_metadata(new),
            "spec": {"hosts": [new.host], "http": []},
        }  # fmt: skip
        old = TrafficSpec(new.namespace, new.service, new.subsets)
    else:
        result = copy.deepcopy(vs)
    spec = result.setdefault("spec", {})
    http: list[dict] = spec.setdefault("http", [])
    if new.routes != old.routes:
        managed = managed_route_indexes(result, new.namespace, new.service)
        default = default_route_index(result)
        position = managed[0] if managed else (default if default is not None else len(http))
        for index in reversed(managed):
            del http[index]
        http[position:position] = [
            {"match": [copy.deepcopy(dict(m)) for m in route.match], "route": _entries(route.weights, host, None)}
            for route in new.routes
        ]
    default_changed = (new.weights, new.fault, new.timeout, new.retries) != (
        old.weights, old.fault, old.timeout, old.retries
    )  # fmt: skip
    if default_changed or (not old.weights and new.weights) or vs is None:
        default = default_route_index(result)
        if default is None:
            http.append({"route": _entries(new.weights, host, None)})
            default = len(http) - 1
        route = http[default]
        if new.weights != old.weights or "route" not in route:
            route["route"] = _entries(new.weights, host, route.get("route"))
        if new.fault != old.fault:
            _set_or_pop(route, "fault", None if new.fault is None else fault_body(new.fault))
        if new.timeout != old.timeout:
            _set_or_pop(route, "timeout", new.timeout)
        if new.retries != old.retries:
            _set_or_pop(route, "retries", None if new.retries is None else retries_body(new.retries))
    if is_meshui(result) and not has_routing(new) and set(spec) <= {"hosts", "http"}:
        default = default_route_index(result)
        if all(index == default and set(route) == {"route"} for index, route in enumerate(http)):
            return None
    return result


_BREAKER_PATHS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("max_connections", ("connectionPool", "tcp", "maxConnections")),
    ("http1_max_pending_requests", ("connectionPool", "http", "http1MaxPendingRequests")),
    ("http2_max_requests", ("connectionPool", "http", "http2MaxRequests")),
    ("max_requests_per_connection", ("connectionPool", "http", "maxRequestsPerConnection")),
    ("max_retries", ("connectionPool", "http", "maxRetries")),
    ("consecutive_5xx_errors", ("outlierDetection", "consecutive5xxErrors")),
    ("interval", ("outlierDetection", "interval")),
    ("base_ejection_time", ("outlierDetection", "baseEjectionTime")),
    ("max_ejection_percent", ("outlierDetection", "maxEjectionPercent")),
)


def _apply_breaker(spec: dict, breaker: CircuitBreaker | None) -> None:
    """Set the modelled circuit-breaker keys of ``trafficPolicy``; other keys there stay."""
    policy = spec.setdefault("trafficPolicy", {}) or {}
    spec["trafficPolicy"] = policy
    for attribute, path in _BREAKER_PATHS:
        value = None if breaker is None else getattr(breaker, attribute)
        node = policy
        parents = []
        for key in path[:-1]:
            parents.append((node, key))
            node = node.setdefault(key, {})
        _set_or_pop(node, path[-1], value)
        for parent, key in reversed(parents):
            if not parent[key]:
                del parent[key]
    if not policy:
        del spec["trafficPolicy"]


def referenced_subsets(vs: Mapping[str, Any] | None, namespace: str, service: str) -> list[str]:
    """Subsets of the service named by any destination or mirror of ``vs``, in order of appearance."""
    if vs is None:
        return []
    found: list[str] = []
    vs_namespace = namespace_of(vs, namespace)
    for kind in ("http", "tcp", "tls"):
        for route in spec_of(vs).get(kind) or []:
            destinations = [entry.get("destination") or {} for entry in route.get("route") or []]
            if route.get("mirror"):
                destinations.append(route["mirror"])
            for destination in destinations:
                subset = destination.get("subset")
                host = str(destination.get("host", ""))
                if subset and refers_to(host, vs_namespace, namespace, service) and subset not in found:
                    found.append(subset)
    return found


def render_destination_rule(
    old: TrafficSpec, new: TrafficSpec, dr: dict | None, vs_after: dict | None, available: tuple[Subset, ...]
) -> dict | None:
    """The DestinationRule for ``new`` given the VirtualService it serves; None = none.

    Subsets the routing needs are added (labels from ``available``); a meshui-made rule also
    drops subsets nothing references any more. A hand-written rule never loses a subset.
    """
    needed = referenced_subsets(vs_after, new.namespace, new.service)
    labels_of = {subset.name: dict(subset.labels) for subset in available}
    if dr is None:
        if not needed and new.circuit_breaker is None:
            return None
        result: dict[str, Any] = {
            "apiVersion": API_VERSION, "kind": DESTINATION_RULE, "metadata": _new_metadata(new),
            "spec": {"host": new.host},
        }  # fmt: skip
        old_breaker = None
    else:
        result = copy.deepcopy(dr)
        old_breaker = old.circuit_breaker
    spec = result.setdefault("spec", {})
    subsets: list[dict] = list(spec.get("subsets") or [])
    present = [s.get("name") for s in subsets]
    for name in needed:
        if name not in present:
            subsets.append({"name": name, "labels": labels_of.get(name, {"version": name})})
    if is_meshui(result):
        subsets = [s for s in subsets if s.get("name") in needed]
    if subsets:
        spec["subsets"] = subsets
    else:
        spec.pop("subsets", None)
    if new.circuit_breaker != old_breaker:
        _apply_breaker(spec, new.circuit_breaker)
    if is_meshui(result) and set(spec) <= {"host"}:
        return None
    return result


def render(
    old: TrafficSpec, new: TrafficSpec, vs: dict | None, dr: dict | None, available: tuple[Subset, ...]
) -> tuple[dict | None, dict | None]:
    """``(VirtualService, DestinationRule)`` after the change from ``old`` (read from ``vs``/``dr``) to ``new``."""
    vs_after = render_virtual_service(old, new, vs)
    return vs_after, render_destination_rule(old, new, dr, vs_after, available)


def _subset_names(dr: Mapping[str, Any] | None) -> list[str]:
    return [s.get("name") for s in spec_of(dr).get("subsets") or []] if dr else []


def _step(kind: str, namespace: str, name: str, body: dict | None, previous: dict | None) -> list[Write]:
    return [] if body == previous else [Write(kind, namespace, name, body, previous)]


def plan_writes(
    namespace: str, vs_before: dict | None, vs_after: dict | None, dr_before: dict | None, dr_after: dict | None
) -> list[Write]:
    """The ordered writes from before to after, make before break.

    A rule gaining subsets goes first; one losing subsets (or deleted) goes last; one doing
    both is written twice: first with the union of subsets, last with the final list. So at no
    moment does a route name a subset the rule lacks.
    """
    vs_ref = vs_after or vs_before
    dr_ref = dr_after or dr_before
    vs_name = name_of(vs_ref) if vs_ref else ""
    dr_name = name_of(dr_ref) if dr_ref else ""
    vs_ns = namespace_of(vs_ref, namespace) if vs_ref else namespace
    dr_ns = namespace_of(dr_ref, namespace) if dr_ref else namespace
    vs_step = _step(VIRTUAL_SERVICE, vs_ns, vs_name, vs_after, vs_before) if vs_ref else []
    if dr_ref is None:
        return vs_step
    before, after = _subset_names(dr_before), _subset_names(dr_after)
    added = [n for n in after if n not in before] or (dr_before is None and dr_after is not None)
    removed = [n for n in before if n not in after] or (dr_after is None and dr_before is not None)
    if added and removed and dr_before is not None and dr_after is not None:
        union = copy.deepcopy(dr_after)
        kept = {s.get("name") for s in spec_of(dr_after).get("subsets") or []}
        union["spec"]["subsets"] = list(spec_of(dr_after).get("subsets") or []) + [
            copy.deepcopy(s) for s in spec_of(dr_before).get("subsets") or [] if s.get("name") not in kept
        ]
        first = _step(DESTINATION_RULE, dr_ns, dr_name, union, dr_before)
        return first + vs_step + _step(DESTINATION_RULE, dr_ns, dr_name, dr_after, union)
    dr_step = _step(DESTINATION_RULE, dr_ns, dr_name, dr_after, dr_before)
    return dr_step + vs_step if added or not removed else vs_step + dr_step
