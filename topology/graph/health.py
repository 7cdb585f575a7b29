"""Health of nodes and edges from their request outcomes, with configurable tolerances.

Four outcome categories are judged, each as a percentage of the requests: ``http_5xx``,
``http_4xx``, ``grpc_error`` and ``no_response``. A category is ``failing`` when its share is
above zero and at least its ``failing`` threshold, ``degraded`` when above zero and at least its
``degraded`` threshold; the worst category decides. Defaults are Kiali's: 5xx degraded on any,
failing at 10%; 4xx degraded at 10%, failing at 20%; gRPC errors and no-response degraded on any,
failing at 10%.

Rules pick tolerances per namespace, node kind and node-name regex; the first matching rule wins,
else the defaults apply. An edge is judged with the rule of its target node (the callee owns its
error budget). ``assess`` returns a new graph whose ``node_health``/``edge_health`` are filled.

Direction (docs/decisions/0022-health-by-direction.md): a node's inbound requests (what its
callers got from it) and outbound requests (what it got from its callees) are judged apart, and
the combined verdict's reason names its direction and the peer with the most errors
(``outbound 5xx 18.3% ≥ 10% calling ratings``). A node whose inbound requests fail while its own
outbound calls are healthy, or that makes none, is an *error origin*: errors start there. Any
other unhealthy node's reason names the origins its failing calls lead to
(``…; errors originate at ratings``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from topology.graph.types import Health, MeshGraph, Node, NodeKind, Verdict

CATEGORIES: tuple[str, ...] = ("http_5xx", "http_4xx", "grpc_error", "no_response")
_LABELS = {"http_5xx": "5xx", "http_4xx": "4xx", "grpc_error": "gRPC errors", "no_response": "no response"}
_SEVERITY = {Health.IDLE: 0, Health.UNKNOWN: 1, Health.HEALTHY: 2, Health.DEGRADED: 3, Health.FAILING: 4}
_HEALTHY = Verdict(Health.HEALTHY)
_IDLE = Verdict(Health.IDLE)
_UNKNOWN = Verdict(Health.UNKNOWN, "no request traffic to judge")


@dataclass(frozen=True, slots=True)
class Threshold:
    """Percentages (0..100) at which a category turns ``degraded`` and ``failing``."""

    degraded: float
    failing: float


@dataclass(frozen=True, slots=True)
class Tolerances:
    """One threshold per outcome category."""

    http_5xx: Threshold
    http_4xx: Threshold
    grpc_error: Threshold
    no_response: Threshold


@dataclass(frozen=True, slots=True)
class HealthRule:
    """Tolerances for nodes matching every given criterion (``None`` = any)."""

    tolerances: Tolerances
    namespace: str | None = None
    kind: NodeKind | None = None
    name: re.Pattern[str] | None = None

    def matches(self, node: Node) -> bool:
        """True when ``node`` satisfies the rule's namespace, kind and name criteria."""
        return (
            (self.namespace is None or node.namespace == self.namespace)
            and (self.kind is None or node.kind == self.kind)
            and (self.name is None or self.name.search(node.name) is not None)
        )


@dataclass(frozen=True, slots=True)
class HealthRules:
    """Ordered rules (first match wins) over ``defaults``."""

    defaults: Tolerances
    rules: tuple[HealthRule, ...] = ()

    def for_node(self, node: Node | None) -> Tolerances:
        """The tolerances that apply to ``node`` (the defaults for ``None``)."""
        if node is not None:
            for rule in self.rules:
                if rule.matches(node):
                    return rule.tolerances
        return self.defaults


_DEFAULTS = Tolerances(
    http_5xx=Threshold(degraded=0.0, failing=10.0),
    http_4xx=Threshold(degraded=10.0, failing=20.0),
    grpc_error=Threshold(degraded=0.0, failing=10.0),
    no_response=Threshold(degraded=0.0, failing=10.0),
)


def default_health_rules() -> HealthRules:
    """Kiali's default tolerances and no rules."""
    return HealthRules(defaults=_DEFAULTS)


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ValueError(f"{path}: must be a number from 0 to 100")
    return float(value)


def _check_keys(data: Any, allowed: set[str], path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{path or 'health rules'}: must be an object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        where = f"{path}." if path else ""
        raise ValueError(f"{where}{unknown[0]}: unknown key (allowed: {', '.join(sorted(allowed))})")
    return data


def _tolerances(data: Any, base: Tolerances, path: str) -> Tolerances:
    _check_keys(data, set(CATEGORIES), path)
    values = {}
    for category in CATEGORIES:
        threshold = getattr(base, category)
        if category in data:
            where = f"{path}.{category}"
            spec = _check_keys(data[category], {"degraded", "failing"}, where)
            degraded = _number(spec.get("degraded", threshold.degraded), f"{where}.degraded")
            failing = _number(spec.get("failing", threshold.failing), f"{where}.failing")
            if degraded > failing:
                raise ValueError(f"{where}.degraded: must not exceed failing ({degraded:g} > {failing:g})")
            threshold = Threshold(degraded, failing)
        values[category] = threshold
    return Tolerances(**values)


def parse_health_rules(data: dict[str, Any]) -> HealthRules:
    """Read rules from plain data (e.g. a settings dict or a request body).

    Shape: ``{"defaults": {<category>: {"degraded": pct, "failing": pct}}, "rules": [{"namespace":
    str, "kind": NodeKind value, "name": regex, "tolerances": {<category>: {...}}}]}``; every key
    is optional, an omitted threshold inherits the defaults. Raises ``ValueError`` whose message
    starts with the path of the bad key (e.g. ``rules[0].tolerances.http_5xx.failing``).
    """
    _check_keys(data, {"defaults", "rules"}, "")
    defaults = _tolerances(data.get("defaults", {}), _DEFAULTS, "defaults")
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise ValueError("rules: must be a list")
    rules = []
    for index, raw in enumerate(raw_rules):
        path = f"rules[{index}]"
        spec = _check_keys(raw, {"namespace", "kind", "name", "tolerances"}, path)
        namespace = spec.get("namespace")
        if namespace is not None and (not isinstance(namespace, str) or not namespace):
            raise ValueError(f"{path}.namespace: must be a non-empty string")
        kind = spec.get("kind")
        if kind is not None:
            try:
                kind = NodeKind(kind)
            except ValueError:
                allowed = ", ".join(k.value for k in NodeKind)
                raise ValueError(f"{path}.kind: must be one of {allowed}") from None
        name = spec.get("name")
        if name is not None:
            if not isinstance(name, str):
                raise ValueError(f"{path}.name: must be a regular expression string")
            try:
                name = re.compile(name)
            except re.error as exc:
                raise ValueError(f"{path}.name: invalid regular expression ({exc})") from None
        if "tolerances" not in spec:
            raise ValueError(f"{path}.tolerances: required")
        tolerances = _tolerances(spec["tolerances"], defaults, f"{path}.tolerances")
        rules.append(HealthRule(tolerances=tolerances, namespace=namespace, kind=kind, name=name))
    return HealthRules(defaults=defaults, rules=tuple(rules))


def judge(rate: float, counts: tuple[float, float, float, float], tolerances: Tolerances) -> Verdict:
    """Judge ``rate`` requests/s of which ``counts`` (5xx, 4xx, gRPC error, no response) went wrong."""
    return _Judge()(rate, counts, tolerances)


# Per category: its label, its thresholds and the endings of its failing and degraded reasons.
_Spelt = tuple[tuple[str, float, float, str, str], ...]


def _spelt(tolerances: Tolerances) -> _Spelt:
    spelt = []
    for category in CATEGORIES:
        threshold = getattr(tolerances, category)
        degraded_bound = f"≥ {threshold.degraded:g}%" if threshold.degraded > 0 else "> 0%"
        spelt.append(
            (
                _LABELS[category],
                threshold.degraded,
                threshold.failing,
                f"% ≥ {threshold.failing:g}%",
                f"% {degraded_bound}",
            )
        )
    return tuple(spelt)


def _percent(percent: float) -> str:
    """One decimal, as the pages show shares; below 0.1 two significant digits, so that a reason
    never reads "0.0% > 0%"."""
    return f"{percent:.1f}" if percent >= 0.1 else f"{percent:.2g}"


class _Judge:
    """``judge`` for the many figures of one graph: each ``Tolerances`` spelt out once, one
    ``Verdict`` per distinct reason (verdicts are immutable, so edges share them)."""

    __slots__ = ("_degraded", "_failing", "_spelt")

    def __init__(self) -> None:
        # Keyed by id(): every Tolerances judged lives in the rules for as long as this judge.
        self._spelt: dict[int, _Spelt] = {}
        self._failing: dict[str, Verdict] = {}
        self._degraded: dict[str, Verdict] = {}

    def __call__(self, rate: float, counts: tuple[float, float, float, float], tolerances: Tolerances) -> Verdict:
        spelt = self._spelt.get(id(tolerances))
        if spelt is None:
            spelt = self._spelt[id(tolerances)] = _spelt(tolerances)
        degraded_reason = None
        for (label, degraded, failing, failing_end, degraded_end), count in zip(spelt, counts, strict=True):
            if count <= 0.0:
                continue
            percent = 100.0 * count / rate
            if percent >= failing:
                return self._verdict(self._failing, Health.FAILING, f"{label} {_percent(percent)}{failing_end}")
            if percent >= degraded and degraded_reason is None:
                degraded_reason = f"{label} {_percent(percent)}{degraded_end}"
        if degraded_reason is None:
            return _HEALTHY
        return self._verdict(self._degraded, Health.DEGRADED, degraded_reason)

    @staticmethod
    def _verdict(known: dict[str, Verdict], health: Health, reason: str) -> Verdict:
        verdict = known.get(reason)
        if verdict is None:
            verdict = known[reason] = Verdict(health, reason)
        return verdict


class _Side:
    """Summed request outcomes (5xx, 4xx, gRPC error, no response) and bytes over the edges on
    one side of a node, and the node at the other end of the edge with the most errors."""

    __slots__ = ("bytes", "counts", "peer", "peer_errors", "rate")

    def __init__(self) -> None:
        self.rate = 0.0
        self.counts = [0.0, 0.0, 0.0, 0.0]
        self.bytes = 0.0
        self.peer: str | None = None
        self.peer_errors = 0.0


def _side_verdict(side: _Side | None, tolerances: Tolerances, judged: _Judge) -> Verdict | None:
    """``None`` when the side carried nothing."""
    if side is None or (side.rate <= 0.0 and side.bytes <= 0.0):
        return None
    if side.rate > 0.0:
        return judged(side.rate, tuple(side.counts), tolerances)
    return _HEALTHY


def _carries(side: _Side | None) -> bool:
    return side is not None and (side.rate > 0.0 or side.bytes > 0.0)


def _worst(verdicts: list[Verdict]) -> Verdict:
    return max(verdicts, key=lambda verdict: _SEVERITY[verdict.health])


_UNHEALTHY = (Health.DEGRADED, Health.FAILING)
# Origins named in a reason, at most; the graph shows them all (``error_origin``).
_ORIGINS_NAMED = 3


def _directional(verdict: Verdict | None) -> Verdict:
    """One direction's verdict as the API shows it: idle when nothing went that way."""
    return verdict if verdict is not None else _IDLE


def _named(verdict: Verdict, direction: str, peer: str | None) -> Verdict:
    """``verdict`` with its reason prefixed by its direction and suffixed by its peer."""
    if verdict.health not in _UNHEALTHY or verdict.reason is None:
        return verdict
    reason = f"{direction} {verdict.reason}"
    if peer is not None:
        reason += f" {'calling' if direction == 'outbound' else 'from'} {peer}"
    return Verdict(verdict.health, reason)


def _nearest_origins(failing_calls: dict[str, list[str]], origins: frozenset[str]) -> dict[str, list[str]]:
    """For every node, the error origins its unhealthy calls lead to, nearest first (at most
    ``_ORIGINS_NAMED``), never through another origin.

    One breadth-first walk backwards from all origins at once, each node taking at most
    ``_ORIGINS_NAMED`` of them: linear in the edges, where a walk forwards from every unhealthy
    node was quadratic on a mesh whose edges all fail a little.
    """
    callers: dict[str, list[str]] = {}
    for source, targets in failing_calls.items():
        for target in targets:
            callers.setdefault(target, []).append(source)
    found: dict[str, list[str]] = {}
    frontier = [(origin, origin) for origin in sorted(origins)]
    while frontier:
        following = []
        for node_id, origin in frontier:
            for caller in callers.get(node_id, ()):
                if caller == origin:
                    continue
                reached = found.setdefault(caller, [])
                if origin in reached or len(reached) >= _ORIGINS_NAMED:
                    continue
                reached.append(origin)
                if caller not in origins:
                    following.append((caller, origin))
        frontier = following
    return found


def assess(graph: MeshGraph, rules: HealthRules) -> MeshGraph:
    """A copy of ``graph`` with ``node_health`` and ``edge_health`` filled for every id.

    Edges: requests judged with their target's tolerances; TCP-only edges with bytes are healthy;
    no traffic is idle. Nodes: the worst of inbound requests and, for workload and app nodes,
    outbound requests (on a tie the outbound side, which explains the inbound one); a node whose
    only traffic cannot be judged this way (e.g. the ``unknown`` source, which only sends) is
    ``unknown``; without traffic ``idle``. App group nodes take the worst of their members.
    ``inbound_health``/``outbound_health``: each side alone (``idle`` when nothing went that way),
    reasons prefixed ``inbound``/``outbound`` and naming the peer with the most errors.
    ``error_origins``: nodes whose inbound side is unhealthy while their outbound side is not.
    """
    nodes = graph.nodes
    tolerance_cache: dict[str, Tolerances] = {}

    def tolerances_of(node_id: str) -> Tolerances:
        found = tolerance_cache.get(node_id)
        if found is None:
            found = rules.for_node(nodes.get(node_id)) if rules.rules else rules.defaults
            tolerance_cache[node_id] = found
        return found

    judged = _Judge()
    edge_health: dict[str, Verdict] = {}
    inbound: dict[str, _Side] = {}
    outbound: dict[str, _Side] = {}
    edges = graph.edges
    # Straight from the columns: a TCP figure that is None there reads 0.0, which counts the same.
    for edge_id, source, target, rate, http_5xx, http_4xx, grpc_error, no_response, sent, received in zip(
        edges.ids,
        edges.sources,
        edges.targets,
        edges.request_rate,
        edges.http_5xx_rate,
        edges.http_4xx_rate,
        edges.grpc_error_rate,
        edges.no_response_rate,
        edges.tcp_sent,
        edges.tcp_received,
        strict=True,
    ):
        if rate > 0.0:
            if http_5xx <= 0.0 and http_4xx <= 0.0 and grpc_error <= 0.0 and no_response <= 0.0:
                edge_health[edge_id] = _HEALTHY
            else:
                counts = (http_5xx, http_4xx, grpc_error, no_response)
                edge_health[edge_id] = judged(rate, counts, tolerances_of(target))
        elif sent or received:
            edge_health[edge_id] = _HEALTHY
        else:
            edge_health[edge_id] = _IDLE
        moved = sent + received
        errors = http_5xx + http_4xx + grpc_error + no_response
        for sides, node_id, peer in ((inbound, target, source), (outbound, source, target)):
            side = sides.get(node_id)
            if side is None:
                side = sides[node_id] = _Side()
            side.rate += rate
            counts = side.counts
            counts[0] += http_5xx
            counts[1] += http_4xx
            counts[2] += grpc_error
            counts[3] += no_response
            side.bytes += moved
            if errors > side.peer_errors:
                side.peer, side.peer_errors = peer, errors

    def peer_name(side: _Side | None) -> str | None:
        if side is None or side.peer is None:
            return None
        peer = nodes.get(side.peer)
        return peer.name if peer is not None else side.peer

    node_health: dict[str, Verdict] = {}
    inbound_health: dict[str, Verdict] = {}
    outbound_health: dict[str, Verdict] = {}
    combined_side: dict[str, str] = {}
    origins: set[str] = set()
    for node_id, node in nodes.items():
        if node.is_group:
            continue
        tolerances = tolerances_of(node_id)
        side_in, side_out = inbound.get(node_id), outbound.get(node_id)
        verdict_in = _side_verdict(side_in, tolerances, judged)
        verdict_out = _side_verdict(side_out, tolerances, judged)
        named_in = _named(_directional(verdict_in), "inbound", peer_name(side_in))
        named_out = _named(_directional(verdict_out), "outbound", peer_name(side_out))
        inbound_health[node_id], outbound_health[node_id] = named_in, named_out
        in_unhealthy = named_in.health in _UNHEALTHY
        if in_unhealthy and named_out.health not in _UNHEALTHY:
            origins.add(node_id)
        # Outbound first: on a tie it is the side that explains the other.
        candidates = []
        if node.kind in (NodeKind.WORKLOAD, NodeKind.APP) and verdict_out is not None:
            candidates.append(("outbound", named_out))
        if verdict_in is not None:
            candidates.append(("inbound", named_in))
        if candidates:
            direction, verdict = max(candidates, key=lambda pair: _SEVERITY[pair[1].health])
            combined_side[node_id] = direction
        elif _carries(side_in) or _carries(side_out):
            verdict = _UNKNOWN
        else:
            verdict = _IDLE
        node_health[node_id] = verdict

    error_origins = frozenset(origins)
    # Where a node's unhealthy calls lead: the origin of its errors, named in its reason.
    failing_calls: dict[str, list[str]] = {}
    for edge_id, source, target in zip(edges.ids, edges.sources, edges.targets, strict=True):
        if edge_health[edge_id].health in _UNHEALTHY:
            failing_calls.setdefault(source, []).append(target)
    downstream = _nearest_origins(failing_calls, error_origins)
    members: dict[str, list[str]] = {}
    for node_id, node in nodes.items():
        if node.is_group:
            continue
        verdict = node_health[node_id]
        if verdict.health in _UNHEALTHY and verdict.reason is not None:
            if node_id in error_origins and combined_side.get(node_id) == "inbound":
                verdict = Verdict(verdict.health, f"{verdict.reason}; errors originate here")
            else:
                found = downstream.get(node_id)
                if found:
                    names = ", ".join(nodes[origin].name for origin in found)
                    verdict = Verdict(verdict.health, f"{verdict.reason}; errors originate at {names}")
            node_health[node_id] = verdict
        if node.parent is not None:
            members.setdefault(node.parent, []).append(node_id)
    # A box (app group) is as healthy as its worst member, in each direction.
    for node_id, node in nodes.items():
        if node.is_group:
            inside = members.get(node_id, [])
            for verdicts in (node_health, inbound_health, outbound_health):
                verdicts[node_id] = _worst([verdicts[member] for member in inside]) if inside else _IDLE
    return dataclasses.replace(graph, node_health=node_health, edge_health=edge_health,
                               inbound_health=inbound_health, outbound_health=outbound_health,
                               error_origins=error_origins)  # fmt: skip
