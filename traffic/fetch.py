"""Reads: one service's traffic state as the API shows it, and the Istio config overview.

Every answer says how fresh it is: ``synced_at`` (ISO 8601, UTC: when the read it is based on
began), ``sync_age_s`` (seconds since then, when the answer was made) and ``from_cache`` (the
backend reused an earlier read; only kubernetes does, within ``MESHUI_KUBE_CACHE_TTL_S``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import yaml

from topology.graph.build import build_graph
from topology.graph.errors import UpstreamError
from topology.graph.types import GraphOptions, GraphType, MeshGraph, NodeKind
from traffic.backends.base import MeshBackend, Snapshot
from traffic.parse import ParsedService, name_of, namespace_of, parse_service
from traffic.specs import service_host, to_wire
from traffic.validate import validate_all

# Versions and hosts come from the telemetry itself (Prometheus or the demo mesh), through the
# graph service's shared, briefly cached read of the last hour: a traffic page costs no extra
# upstream query when the graph was just read, and works the same whatever the source.
_SEEN_WINDOW_S = 3600


# The graph built from the last shared read, with that read: every read of a traffic state asks
# for versions and for hosts, and the badges of a view read many states, all within one shared read.
_seen_built: tuple[object, MeshGraph] | None = None


def _seen_graph() -> MeshGraph | None:
    """The workload graph of the last hour (idle edges kept), or None when telemetry is unavailable.

    Built once per shared telemetry read (``topology.service.read_telemetry`` hands out the same
    object until its short TTL ends)."""
    global _seen_built
    from topology import service as topology

    try:
        telemetry = topology.read_telemetry(window_s=_SEEN_WINDOW_S, query_time=None, namespaces=None)
    except UpstreamError:
        # Routing stays editable while Prometheus is down; only the telemetry hints are missing.
        return None
    built = _seen_built
    if built is not None and built[0] is telemetry:
        return built[1]
    graph = build_graph(telemetry, GraphOptions(graph_type=GraphType.WORKLOAD, include_idle=True))
    _seen_built = (telemetry, graph)
    return graph


def seen_versions(namespace: str, service: str) -> list[str]:
    """The ``version`` labels of the service's workloads as telemetry knows them ([] when unknown)."""
    graph = _seen_graph()
    if graph is None:
        return []
    versions = {
        node.version
        for node in graph.nodes.values()
        if node.kind == NodeKind.WORKLOAD and node.namespace == namespace and node.service == service and node.version
    }
    return sorted(versions)


def known_hosts() -> set[str] | None:
    """FQDNs of the services telemetry has seen, or None when meshui cannot tell."""
    seen = seen_services()
    return None if seen is None else {service_host(namespace, service) for namespace, service in seen}


def seen_services() -> set[tuple[str, str]] | None:
    """``(namespace, service)`` of every service telemetry has seen in the last hour, or None
    when meshui cannot tell (telemetry unavailable)."""
    graph = _seen_graph()
    if graph is None:
        return None
    return {
        (node.namespace, node.service)
        for node in graph.nodes.values()
        if node.namespace and node.service and node.kind in (NodeKind.WORKLOAD, NodeKind.SERVICE)
    }


def resource_entry(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "kind": resource.get("kind"),
        "name": name_of(resource),
        "namespace": namespace_of(resource),
        "yaml": yaml.safe_dump(dict(resource), sort_keys=False, default_flow_style=False),
    }


def service_resources(parsed: ParsedService) -> list[dict]:
    return [r for r in (parsed.vs, parsed.dr, *parsed.others) if r is not None]


def freshness(synced_at: datetime, from_cache: bool) -> dict[str, Any]:
    """``synced_at``, ``sync_age_s`` and ``from_cache`` of an answer based on a read begun at ``synced_at``."""
    age = (datetime.now(UTC) - synced_at).total_seconds()
    # A wall clock stepped back must not show a negative age.
    return {"synced_at": synced_at.isoformat(timespec="milliseconds"), "sync_age_s": round(max(age, 0.0), 3),
            "from_cache": from_cache}  # fmt: skip


def state_of(
    parsed: ParsedService, version: str, context: Iterable[Mapping[str, Any]], *, synced_at: datetime, from_cache: bool
) -> dict[str, Any]:
    """The API's JSON for one service: the model, owner, version, resources, their validations and
    the freshness of the read it comes from (``freshness``)."""
    mine = service_resources(parsed)
    names = {(r.get("kind"), name_of(r)) for r in mine}
    validations = [
        v.to_wire() for v in validate_all(list(context), known_hosts()) if (v.kind, v.name) in names
    ]  # fmt: skip
    return {
        **to_wire(parsed.spec),
        "owner": parsed.owner,
        "version": version,
        # What weights and routes may name: a subset at weight 0 leaves the DestinationRule, but
        # the version telemetry sees stays offered (so "promote v1, then promote v2" works).
        "available_subsets": [{"name": x.name, "labels": dict(x.labels)} for x in parsed.available_subsets],
        "resources": [resource_entry(r) for r in mine],
        "validations": validations,
        **freshness(synced_at, from_cache),
    }


def read_service(
    backend: MeshBackend, namespace: str, service: str, *, fresh: bool = False
) -> tuple[Snapshot, ParsedService]:
    """The backend's snapshot of ``namespace/service`` (``fresh``: never a cached read) and the model read from it."""
    snapshot = backend.snapshot(namespace, service, fresh=fresh)
    return snapshot, parse_service(snapshot.resources, namespace, service, seen_versions(namespace, service))


def traffic_state(backend: MeshBackend, namespace: str, service: str, *, fresh: bool = False) -> dict[str, Any]:
    """The state of ``namespace/service`` as ``GET …/traffic`` answers it (see ``state_of``)."""
    snapshot, parsed = read_service(backend, namespace, service, fresh=fresh)
    return state_of(parsed, snapshot.version, snapshot.resources, synced_at=snapshot.synced_at,
                    from_cache=snapshot.from_cache)  # fmt: skip


def istio_config(backend: MeshBackend, namespace: str | None) -> dict[str, Any]:
    """``{"resources", "synced_at", "sync_age_s", "from_cache"}``: every VirtualService and
    DestinationRule the backend holds (in ``namespace``) with its validations, and how fresh the
    list is."""
    listing = backend.listing(namespace)
    findings: dict[tuple[str, str, str], list[dict]] = {}
    for validation in validate_all(listing.resources, known_hosts()):
        findings.setdefault((validation.kind, validation.namespace, validation.name), []).append(validation.to_wire())
    resources = [
        {**resource_entry(r), "validations": findings.get((str(r.get("kind")), namespace_of(r), name_of(r)), [])}
        for r in listing.resources
    ]
    return {"resources": resources, **freshness(listing.synced_at, listing.from_cache)}
