"""Reading the mesh graph: telemetry source → pure graph core → wire JSON.

The telemetry source is ``sources.telemetry_source()`` (the one place that picks sources);
this module decides how reads of it are shared:

* a request for "now" shares one telemetry read per (window, namespaces) with every other
  request made within ``MESHUI_GRAPH_CACHE_TTL_S`` — and concurrent requests wait for the
  one read in flight instead of starting their own — so a thousand viewers cost Prometheus
  what one does;
* a request with an explicit ``query_time`` is always read from the source for that time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import yaml
from django.apps import apps
from django.conf import settings
from django.db import DatabaseError

import sources
from meshui.errors import MeshuiError
from topology.graph.build import build_graph
from topology.graph.errors import UpstreamError
from topology.graph.focus import Direction, neighbourhood
from topology.graph.health import HealthRules, assess, default_health_rules, parse_health_rules
from topology.graph.telemetry import MeshTelemetry
from topology.graph.types import GraphOptions, GraphType, Health, MeshGraph, Verdict
from topology.graph.wire import graph_to_wire, node_to_wire

from .api.params import GraphRequest


@lru_cache(maxsize=1)
def health_rules() -> HealthRules:
    """Health tolerances: ``MESHUI_HEALTH_RULES_FILE`` when set, else Kiali's defaults.

    Raises ``ValueError`` naming the bad key when the file is invalid (the system check
    ``meshui.E001`` reports it at start-up).
    """
    path = settings.HEALTH_RULES_FILE
    if not path:
        return default_health_rules()
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return parse_health_rules(data)


@dataclass(slots=True)
class _Entry:
    done: threading.Event
    expires_at: float = 0.0
    telemetry: MeshTelemetry | None = None
    error: BaseException | None = None


class SharedReads:
    """Single-flight, briefly cached telemetry reads keyed by (window, namespaces).

    ``get(key, read)`` returns the cached telemetry when it is younger than ``ttl_s``; when
    another thread is already reading the same key it waits for that read; otherwise it calls
    ``read()``. A failed read is shared with the waiters but never cached.
    """

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple, _Entry] = {}

    def get(self, key: tuple, read: Callable[[], MeshTelemetry]) -> MeshTelemetry:
        with self._lock:
            entry = self._entries.get(key)
            now = self._clock()
            if entry is not None and entry.done.is_set() and (entry.error or entry.expires_at <= now):
                entry = None
            owner = entry is None
            if owner:
                entry = _Entry(done=threading.Event())
                self._entries[key] = entry
                self._evict(now)
        if not owner:
            entry.done.wait()
            if entry.error is not None:
                raise entry.error
            return entry.telemetry  # type: ignore[return-value]
        try:
            entry.telemetry = read()
            entry.expires_at = self._clock() + self._ttl_s
            return entry.telemetry
        except BaseException as exc:
            entry.error = exc
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            raise
        finally:
            entry.done.set()

    def _evict(self, now: float) -> None:
        stale = [k for k, e in self._entries.items() if e.done.is_set() and e.expires_at <= now]
        for k in stale:
            del self._entries[k]


_shared_reads = SharedReads(ttl_s=settings.GRAPH_CACHE_TTL_S)


def read_telemetry(
    *, window_s: int, query_time: float | None, namespaces: frozenset[str] | None
) -> MeshTelemetry:
    """Telemetry for the window ending at ``query_time`` (now when ``None``).

    Raises the port's errors (``topology.graph.errors.UpstreamError`` and its subclasses).
    """
    source = sources.telemetry_source()
    if query_time is not None:
        return source.read(query_time=query_time, window_s=window_s, namespaces=namespaces)
    key = (window_s, namespaces)
    return _shared_reads.get(
        key, lambda: source.read(query_time=float(int(time.time())), window_s=window_s, namespaces=namespaces)
    )


def read_graph(request: GraphRequest) -> dict:
    """The API JSON of the graph described by ``request`` (see docs/api.md)."""
    telemetry = read_telemetry(
        window_s=request.window_s, query_time=request.query_time, namespaces=request.namespaces
    )
    document = graph_document(
        telemetry,
        GraphOptions(
            graph_type=request.graph_type,
            namespaces=request.namespaces,
            include_idle=request.include_idle,
            inject_service_nodes=request.inject_service_nodes,
        ),
    )
    if request.focus is not None:
        document = focused(document, request.focus, hops=request.hops, direction=request.direction)
    return document


class UnknownFocus(MeshuiError):
    """The focus names no node of the graph read (404: the id is well formed, the node is not
    there in this window and graph type)."""

    code = "unknown_focus"
    status = 404
    field = "focus"


def focused(document: dict, focus: str, *, hops: int, direction: Direction) -> dict:
    """``document`` keeping only the neighbourhood of node ``focus`` (``topology.graph.focus``)
    and the app boxes of what is kept; health stays as judged on the whole graph. ``focus`` says
    what was asked. Raises ``UnknownFocus`` when no node has that id."""
    by_id = {node["id"]: node for node in document["nodes"]}
    if focus not in by_id:
        raise UnknownFocus(message=f"no node {focus!r} in this graph (this window, graph type and namespaces)")
    edges = document["edges"]
    kept = neighbourhood([(e["source"], e["target"]) for e in edges], focus, hops=hops, direction=direction)
    nodes = set(kept.nodes)
    nodes |= {by_id[n]["parent"] for n in kept.nodes if by_id.get(n, {}).get("parent")}
    return {
        **document,
        "nodes": [node for node in document["nodes"] if node["id"] in nodes],
        "edges": [edges[position] for position in kept.edges],
        "focus": {"node": focus, "hops": hops, "direction": direction},
    }


def graph_document(telemetry: MeshTelemetry, options: GraphOptions) -> dict:
    """The API JSON of the graph ``options`` describes, built from ``telemetry`` and assessed,
    with the idle nodes a recent routing change left (``idle_after_routing_change``, 0023)."""
    graph = assess(build_graph(telemetry, options), health_rules())
    document = graph_to_wire(
        graph, query_time=telemetry.query_time, window_s=telemetry.window_s, warnings=list(telemetry.warnings)
    )
    document["read_mode"] = read_mode(telemetry)
    document["nodes"].extend(idle_after_routing_change(document, telemetry, options))
    return document


_IDLE = Verdict(Health.IDLE)
# How long a workload that a routing change left without traffic stays on the graph (0023).
ROUTED_IDLE_LOOKBACK_S = 3600
_log = logging.getLogger(__name__)


def rerouted_services(
    end: float, lookback_s: int, namespaces: frozenset[str] | None
) -> dict[tuple[str, str], int]:
    """``(namespace, service)`` → id of its newest change, for the services whose routing changed
    (the traffic audit log) in the ``lookback_s`` seconds up to ``end``; ``{}`` without the traffic
    app or when the database cannot say (the graph must not fail for want of its hint)."""
    if not apps.is_installed("traffic"):
        return {}
    from traffic.models import TrafficChange

    rows = TrafficChange.objects.filter(
        created_at__gt=datetime.fromtimestamp(end - lookback_s, tz=UTC),
        created_at__lte=datetime.fromtimestamp(end, tz=UTC),
    )
    if namespaces is not None:
        rows = rows.filter(namespace__in=sorted(namespaces))
    try:
        newest: dict[tuple[str, str], int] = {}
        for change_id, namespace, service in rows.order_by("id").values_list("id", "namespace", "service"):
            newest[(namespace, service)] = change_id
        return newest
    except DatabaseError:
        _log.warning("the traffic audit log could not be read: no idle nodes for routing changes")
        return {}


def idle_after_routing_change(document: dict, telemetry: MeshTelemetry, options: GraphOptions) -> list[dict]:
    """Idle nodes for the workloads (versions) of a service whose routing changed in the last
    ``ROUTED_IDLE_LOOKBACK_S`` seconds, that telemetry of that hour shows serving the service but
    ``document`` (the window's graph) no longer does — a version routed to 0 % stays visible.

    Each is the hour graph's node (same id as it had in the window) with every health ``idle``,
    no edges, and ``idle_after_routing_change`` = the change's id. Costs nothing without a recent
    change; with one, one more telemetry read (the hour, shared like any "now" read) and build.
    A failed read adds nothing (the window's graph stands).
    """
    end = telemetry.query_time
    rerouted = rerouted_services(end, ROUTED_IDLE_LOOKBACK_S, options.namespaces)
    if not rerouted:
        return []
    live = abs(time.time() - end) < settings.GRAPH_CACHE_TTL_S + 60
    try:
        hour = read_telemetry(
            window_s=ROUTED_IDLE_LOOKBACK_S, query_time=None if live else end, namespaces=options.namespaces
        )
    except UpstreamError:
        return []
    hour_graph = build_graph(hour, replace(options, include_idle=True))
    present = {node["id"] for node in document["nodes"]}
    idle = []
    for node in hour_graph.nodes.values():
        change_id = rerouted.get((node.namespace or "", node.service or ""))
        if change_id is None or node.id in present or node.is_group or node.kind.value not in ("workload", "app"):
            continue
        if node.kind.value == "app" and not node.version:
            continue
        reason = f"no requests in this window since routing change #{change_id}"
        idle.append(
            {
                **node_to_wire(node, Verdict(Health.IDLE, reason), _IDLE, _IDLE),
                "parent": node.parent if node.parent in present else None,
                "idle_after_routing_change": change_id,
            }
        )
    return sorted(idle, key=lambda n: n["id"])


def read_mode(telemetry: MeshTelemetry) -> dict:
    """How the telemetry was read: ``mode`` is ``recorded`` (every metric from meshui's
    recording rules), ``partly_recorded``, ``raw`` or ``demo``; ``recorded`` lists the metrics
    that were read from recorded series."""
    recorded = list(telemetry.recorded)
    if sources.is_demo():
        return {"mode": "demo", "recorded": recorded}
    mode = "raw" if not recorded else "recorded" if len(recorded) == 5 else "partly_recorded"
    return {"mode": mode, "recorded": recorded}


_HEALTH_ORDER = [Health.FAILING, Health.DEGRADED, Health.HEALTHY, Health.IDLE, Health.UNKNOWN]


def namespace_health(graph: MeshGraph) -> list[dict]:
    """Per namespace seen in an assessed ``graph``: its node count per health state and the worst state.

    Only nodes that belong to a namespace count (unknown sources and external hosts do not),
    and app group nodes are not counted twice.
    """
    counts: dict[str, dict[str, int]] = {}
    for node_id, node in graph.nodes.items():
        if not node.namespace or node.namespace == "unknown" or node.is_group:
            continue
        per_state = counts.setdefault(node.namespace, {state.value: 0 for state in Health})
        per_state[graph.node_health[node_id].health.value] += 1
    result = []
    for name in sorted(counts):
        per_state = counts[name]
        worst = next((s for s in _HEALTH_ORDER if per_state[s.value] > 0), Health.UNKNOWN)
        result.append({"name": name, "health": worst.value, "counts": per_state})
    return result


def read_namespaces(*, window_s: int, query_time: float | None) -> dict:
    """The namespaces seen in telemetry over the window, each with its health."""
    telemetry = read_telemetry(window_s=window_s, query_time=query_time, namespaces=None)
    graph = assess(
        build_graph(telemetry, GraphOptions(graph_type=GraphType.WORKLOAD)), health_rules()
    )
    return {
        "window_s": telemetry.window_s,
        "query_time": telemetry.query_time,
        "namespaces": namespace_health(graph),
        "warnings": list(telemetry.warnings),
    }
