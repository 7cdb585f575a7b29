"""The demo mesh's traffic as exact functions of time (pure: no Django, no I/O).

Every Istio counter of the demo is the integral of a rate over time, so any window can be read
at any moment, the Prometheus exporter and the direct read agree, and counters never go down:

* a call's rate is ``rate x (1 + Σ a·sin(ω·t + φ))`` — a slow wave shared by the namespace, a
  medium and a fast wave of its own (amplitudes sum to 0.4, so the rate stays positive) — whose
  integral is closed-form;
* everything that changes what the traffic *is* — incidents, routing policies — is piecewise
  constant in time, so a window is cut at those instants and each piece is the closed-form
  volume times constant shares (``Simulator.traffic(a, b)``).

Incidents: time is cut in 30-minute slots; in each slot one HTTP/gRPC service (drawn from the
seed and the slot number) has, starting 0-10 minutes into the slot, 2-6 minutes of either a
burst of 503s (gRPC: status 14) on 15-60 % of its requests or 4-10x its usual latency. So
incidents come every 20-40 minutes and never overlap.

Routing (``RoutingPolicy`` per destination service, with the instant it took effect) acts only
on requests from workloads with a sidecar — VirtualService rules run in the client's proxy:
``weights`` split traffic across versions (default: even, Kubernetes' round robin); ``abort``
answers ``percent`` % of requests in the client proxy (source report only, destination workload
``unknown``, flag ``FI``); ``delay`` adds ``fixed_delay_ms`` to ``percent`` % of the requests as
the client sees them; ``timeout_ms`` turns slower answers into ``504``/``UT`` at the source (the
destination, whose client went away, reports ``0``/``DC``). A source workload's own share of
its service (weights, aborts in front of it) scales the calls it makes.

Headers: the in-mesh HTTP/gRPC requests carry a fixed population of request headers
(``HEADER_CLASSES``: 10 % ``x-group: test``, 10 % ``end-user: jason``, 10 % ``end-user: maria``,
70 % none), which the applications propagate, so each hop of a request carries its root's
headers. A policy's ``routes`` are Istio match routes, tried in order: the first one with a
matching block takes the request to its own weights, with no fault and no timeout (meshui's
match routes carry only ``match`` and ``route``); a request matching none takes the default
route above. So each piece of a flow is split by header class and each class gets its
effective policy (``RoutingPolicy.on_route``), still closed-form; classes routed alike stay one
part. TCP carries no headers (default route only). The source factor is the mixture over the
classes of the source's own service's routing, and a class's calls follow its own share there
(a workload that only the ``x-group: test`` route reaches makes only ``x-group: test`` calls).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from demo.mesh import Call, MeshDefinition, Service, Workload

# The histogram bucket bounds a sidecar exports (observed in a real Istio scrape), as label text.
BUCKET_BOUNDS: tuple[str, ...] = (
    "0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000",
    "30000", "60000", "300000", "600000", "1800000", "3600000", "+Inf",
)  # fmt: skip
_BOUNDS: tuple[float, ...] = tuple(float(b) for b in BUCKET_BOUNDS)

INCIDENT_SLOT_S = 1800.0
UNKNOWN = "unknown"
# Milliseconds a client proxy adds to the server's time (the hop between the two proxies).
CLIENT_OVERHEAD_MS = 1.0
# Time a fault-injected abort takes in the client proxy.
ABORT_MS = 0.2
_OK_FLAGS = "-"

# Edge identity: the values of telemetry.EDGE_LABELS, in that order.
EdgeKey = tuple[str, ...]
# A latency distribution: components (weight, kind, *params); kind "L" = log-normal
# (mu, sigma, shift_ms, truncate_ms), kind "P" = a point (ms).
Dist = tuple[tuple, ...]


@dataclass(frozen=True, slots=True)
class Abort:
    """Fault injection: answer ``percent`` % of requests with ``http_status`` in the client proxy."""

    percent: float
    http_status: int = 503

    def __post_init__(self) -> None:
        if not 0.0 <= self.percent <= 100.0:
            raise ValueError("abort.percent must be within 0..100")
        if not 200 <= self.http_status <= 599:
            raise ValueError("abort.http_status must be within 200..599")


@dataclass(frozen=True, slots=True)
class Delay:
    """Fault injection: hold ``percent`` % of requests ``fixed_delay_ms`` in the client proxy."""

    percent: float
    fixed_delay_ms: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.percent <= 100.0:
            raise ValueError("delay.percent must be within 0..100")
        if self.fixed_delay_ms < 0:
            raise ValueError("delay.fixed_delay_ms must not be negative")


@dataclass(frozen=True, slots=True)
class HeaderClass:
    """A share of the demo's in-mesh requests and the request headers (lower-case names) they carry."""

    share: float
    headers: Mapping[str, str]


# The headers the demo's in-mesh HTTP/gRPC requests carry, propagated by the applications to
# every call a request makes: a canary test group (route ``x-group: test`` to a new version) and
# Bookinfo's logged-in users (its samples route ``end-user: jason``). Shares sum to 1.
HEADER_CLASSES: tuple[HeaderClass, ...] = (
    HeaderClass(0.7, {}),
    HeaderClass(0.1, {"x-group": "test"}),
    HeaderClass(0.1, {"end-user": "jason"}),
    HeaderClass(0.1, {"end-user": "maria"}),
)
HEADER_MATCH_KINDS = ("exact", "prefix", "regex")


@dataclass(frozen=True, slots=True)
class HeaderCondition:
    """One header condition of a match block: header ``name`` matches ``value`` by ``kind``.

    ``exact`` compares, ``prefix`` tests the start, ``regex`` must match the whole value (as
    Envoy's RE2 does; Python's ``re`` reads the patterns). A request without the header fails
    the condition. ``negated`` is Istio's ``withoutHeaders``: the condition holds when the header
    is absent or does not match. Raises ``ValueError`` on another kind or a bad regex.
    """

    name: str
    kind: str
    value: str
    negated: bool = False

    def __post_init__(self) -> None:
        if self.kind not in HEADER_MATCH_KINDS:
            raise ValueError(f"header match kind must be one of {', '.join(HEADER_MATCH_KINDS)}")
        if self.kind == "regex":
            try:
                re.compile(self.value)
            except re.error as error:
                raise ValueError(f"header regex {self.value!r}: {error}") from None

    def holds(self, headers: Mapping[str, str]) -> bool:
        """Whether a request carrying ``headers`` meets the condition."""
        value = headers.get(self.name)
        if value is None:
            found = False
        elif self.kind == "exact":
            found = value == self.value
        elif self.kind == "prefix":
            found = value.startswith(self.value)
        else:
            found = re.fullmatch(self.value, value) is not None
        return found != self.negated


@dataclass(frozen=True, slots=True)
class MatchBlock:
    """One Istio ``HTTPMatchRequest``: every header condition must hold (AND).

    ``unsupported`` names the other conditions it has (``uri``, ``method``, ``queryParams``,
    ``sourceLabels`` ...): the demo's requests carry nothing those could test, so a block with
    any of them never matches. A block with no condition at all matches every request.
    """

    headers: tuple[HeaderCondition, ...] = ()
    unsupported: tuple[str, ...] = ()

    def matches(self, headers: Mapping[str, str]) -> bool:
        """Whether a request carrying ``headers`` matches the block."""
        return not self.unsupported and all(condition.holds(headers) for condition in self.headers)


@dataclass(frozen=True, slots=True)
class MatchRoute:
    """An HTTP route taken by requests matching any of its ``match`` blocks (OR), split by
    ``weights`` (version → relative weight, as ``RoutingPolicy.weights``). Raises ``ValueError``
    on no block or a negative weight."""

    match: tuple[MatchBlock, ...]
    weights: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.weights, Mapping):
            object.__setattr__(self, "weights", tuple(sorted(self.weights.items())))
        object.__setattr__(self, "match", tuple(self.match))
        if not self.match:
            raise ValueError("a match route needs at least one match block")
        if any(weight < 0 for _, weight in self.weights):
            raise ValueError("weights must not be negative")

    def matches(self, headers: Mapping[str, str]) -> bool:
        """Whether a request carrying ``headers`` takes this route (when no earlier route does)."""
        return any(block.matches(headers) for block in self.match)


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """The operator's routing for one destination service.

    The default route: ``weights``: version → relative weight (versions not named get none;
    empty or all-zero = even split); ``abort``, ``delay``; ``timeout_ms``: the route timeout,
    ``None`` = none. ``routes``: match routes tried in order before it (see ``route_index``).
    Raises ``ValueError`` on a negative weight or a non-positive timeout.
    """

    weights: tuple[tuple[str, float], ...] = ()
    abort: Abort | None = None
    delay: Delay | None = None
    timeout_ms: float | None = None
    routes: tuple[MatchRoute, ...] = ()
    # Derived once: the route each of HEADER_CLASSES takes, and each match route as a policy.
    _class_routes: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _route_policies: tuple[RoutingPolicy, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weights = self.weights
        if isinstance(weights, Mapping):
            weights = tuple(sorted(weights.items()))
            object.__setattr__(self, "weights", weights)
        if any(weight < 0 for _, weight in weights):
            raise ValueError("weights must not be negative")
        if self.timeout_ms is not None and self.timeout_ms <= 0:
            raise ValueError("timeout_ms must be positive")
        object.__setattr__(self, "routes", tuple(self.routes))
        object.__setattr__(self, "_route_policies", tuple(RoutingPolicy(weights=r.weights) for r in self.routes))
        object.__setattr__(self, "_class_routes", tuple(self.route_index(c.headers) for c in HEADER_CLASSES))

    def shares(self, workloads: Sequence[Workload]) -> list[float]:
        """Each workload's share of the traffic (sums to 1)."""
        weights = dict(self.weights)
        raw = [weights.get(w.version, 0.0) for w in workloads] if weights else []
        total = sum(raw)
        if total <= 0:
            return [1.0 / len(workloads)] * len(workloads)
        return [value / total for value in raw]

    def route_index(self, headers: Mapping[str, str]) -> int:
        """Index in ``routes`` of the first route a request carrying ``headers`` matches, ``-1``
        for the default route (Istio's first-match order)."""
        return next((index for index, route in enumerate(self.routes) if route.matches(headers)), -1)

    @property
    def class_routes(self) -> tuple[int, ...]:
        """``route_index`` of each of ``HEADER_CLASSES``, in order."""
        return self._class_routes

    def on_route(self, index: int) -> RoutingPolicy:
        """What a request on route ``index`` gets: ``-1`` → this policy (its default route:
        weights, abort, delay, timeout); else the match route's weights alone."""
        return self if index < 0 else self._route_policies[index]


# What a routing provider returns: per (namespace, service), the policy and the unix time it took
# effect — or a list of such changes, oldest first, for a full history. Before the first change
# the service has no policy.
RoutingHistory = Mapping[tuple[str, str], "tuple[float, RoutingPolicy] | Sequence[tuple[float, RoutingPolicy]]"]
RoutingProvider = Callable[[], RoutingHistory]


@dataclass(frozen=True, slots=True)
class Incident:
    """Trouble on one service from ``start`` to ``end`` (unix s): ``kind`` ``errors`` (share of
    requests failing = ``severity``) or ``latency`` (server time x ``severity``)."""

    start: float
    end: float
    service: tuple[str, str]
    kind: str
    severity: float


@dataclass(slots=True)
class Traffic:
    """What flowed during ``[start, end]``, in totals (not rates).

    ``requests``: ``(edge key, (response_code, grpc_response_status, response_flags),
    connection_security_policy)`` → ``[count, {Dist: count}]``.
    ``tcp``: ``(edge key, response_flags, connection_security_policy)`` → ``[sent, received]`` bytes.
    """

    start: float
    end: float
    requests: dict[tuple, list]
    tcp: dict[tuple, list]


def _lognormal_cdf(x: float, mu: float, sigma: float) -> float:
    if x <= 0:
        return 0.0
    return 0.5 * (1.0 + math.erf((math.log(x) - mu) / (sigma * math.sqrt(2.0))))


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


@lru_cache(maxsize=8192)
def dist_profile(dist: Dist) -> tuple[tuple[float, ...], float]:
    """The share of observations ``≤`` each bucket bound, and the mean (ms), of ``dist``."""
    cdf = [0.0] * len(_BOUNDS)
    mean = 0.0
    for component in dist:
        weight, kind = component[0], component[1]
        if kind == "P":
            value = component[2]
            for i, bound in enumerate(_BOUNDS):
                if value <= bound:
                    cdf[i] += weight
            mean += weight * value
            continue
        mu, sigma, shift, truncate = component[2:]
        top = _lognormal_cdf(truncate, mu, sigma) if math.isfinite(truncate) else 1.0
        if top <= 0:
            continue
        for i, bound in enumerate(_BOUNDS):
            if math.isinf(bound):
                cdf[i] += weight
            else:
                cdf[i] += weight * min(_lognormal_cdf(bound - shift, mu, sigma), top) / top
        # E[X | X <= T] of a log-normal.
        full_mean = math.exp(mu + sigma * sigma / 2.0)
        if math.isfinite(truncate):
            part = full_mean * _phi((math.log(truncate) - mu - sigma * sigma) / sigma) / top
        else:
            part = full_mean
        mean += weight * (shift + part)
    return tuple(cdf), mean


class _Flow:
    """One call, prepared: its waves, label tuples and who reports it."""

    __slots__ = (
        "abort_keys",
        "call",
        "dest_keys",
        "external",
        "header_routed",
        "protocol",
        "rate",
        "service",
        "sibling_index",
        "siblings",
        "source_service",
        "source_workload",
        "waves",
        "workloads",
    )

    def __init__(self, mesh: MeshDefinition, call: Call, waves: tuple[tuple[float, float, float], ...]) -> None:
        self.call = call
        self.rate = call.rate
        self.waves = waves
        self.protocol = mesh.protocol_of(call)
        cluster = mesh.cluster
        self.source_workload = mesh.workload_index[call.source] if call.source is not None else None
        self.source_service = mesh.service_of_workload.get(call.source) if call.source is not None else None
        source = self.source_workload
        # The workloads of the source's own service, for routing shares that scale this call.
        self.siblings: list[Workload] = []
        self.sibling_index = 0
        if source is not None and self.source_service is not None:
            self.siblings = [mesh.workload_index[(source.namespace, name)] for name in self.source_service.workloads]
            self.sibling_index = self.source_service.workloads.index(source.name)
        if source is None:
            src = (UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)
        else:
            src = (cluster, source.namespace, source.name, source.app, source.version)
        has_source_report = source is not None and source.sidecar
        self.service: Service | None = None
        self.external = None
        # Per destination workload: (source-report key or None, destination-report key or None).
        self.dest_keys: list[tuple[EdgeKey | None, EdgeKey | None]] = []
        self.workloads: list[Workload] = []
        if call.service is not None:
            service = self.service = mesh.service_index[call.service]
            svc = (cluster, service.namespace, service.host(mesh.domain), service.name)
            for name in service.workloads:
                workload = mesh.workload_index[(service.namespace, name)]
                self.workloads.append(workload)
                dst = (workload.namespace, workload.name, workload.app, workload.version)
                self.dest_keys.append(
                    (
                        ("source", *src, *svc, *dst, self.protocol) if has_source_report else None,
                        ("destination", *src, *svc, *dst, self.protocol) if workload.sidecar else None,
                    )
                )
            # An abort never reaches a workload: the client proxy names the service only.
            self.abort_keys = (
                (
                    "source",
                    *src,
                    UNKNOWN,
                    service.namespace,
                    svc[2],
                    service.name,
                    *(UNKNOWN,) * 4,
                    self.protocol,
                )
                if has_source_report
                else None
            )
        else:
            external = self.external = mesh.external_index[call.external or ""]
            if external.passthrough:
                svc = (UNKNOWN, UNKNOWN, external.host, "PassthroughCluster")
            else:
                svc = (UNKNOWN, external.namespace, external.host, external.host)
            key = ("source", *src, *svc, *(UNKNOWN,) * 4, self.protocol) if has_source_report else None
            self.dest_keys.append((key, None))
            self.abort_keys = None
        # Match routes act on HTTP/gRPC requests to a mesh service, in the client's sidecar.
        self.header_routed = self.service is not None and self.protocol != "tcp" and has_source_report

    def volume(self, x: float, y: float) -> float:
        """∫ rate dt over ``[x, y]`` (requests, or bytes for TCP)."""
        total = y - x
        for amplitude, omega, phase in self.waves:
            total -= amplitude / omega * (math.cos(omega * y + phase) - math.cos(omega * x + phase))
        return self.rate * total

    def namespaces(self) -> set[str]:
        found = set()
        if self.source_workload is not None:
            found.add(self.source_workload.namespace)
        if self.service is not None:
            found.add(self.service.namespace)
        elif self.external is not None and not self.external.passthrough:
            found.add(self.external.namespace)
        return found


def _history_of(
    entry: tuple[float, RoutingPolicy] | Sequence[tuple[float, RoutingPolicy]],
) -> list[tuple[float, RoutingPolicy]]:
    """One change or a list of changes, as a list sorted by time."""
    if len(entry) == 2 and isinstance(entry[1], RoutingPolicy):
        return [(float(entry[0]), entry[1])]
    return sorted(((float(t), policy) for t, policy in entry), key=lambda item: item[0])


class Simulator:
    """Traffic of ``mesh`` for a ``seed``: ``traffic(a, b)`` gives exact totals for ``[a, b]``.

    ``routing`` is called once per ``traffic`` call; its history decides the policy in force at
    each instant. Same mesh, seed, routing and interval → the same totals.
    """

    def __init__(self, mesh: MeshDefinition, seed: int = 1, routing: RoutingProvider | None = None) -> None:
        self.mesh = mesh
        self.seed = seed
        self.routing = routing
        rng = random.Random(f"demo-flows:{mesh.name}:{seed}")
        namespace_waves: dict[str, tuple[float, float, float]] = {}
        self.flows: list[_Flow] = []
        for call in mesh.calls:
            home = call.source[0] if call.source is not None else (call.service or ("",))[0]
            if home not in namespace_waves:
                namespace_waves[home] = (
                    0.2,
                    2 * math.pi / rng.uniform(5400.0, 10800.0),
                    rng.uniform(0, 2 * math.pi),
                )
            waves = (
                namespace_waves[home],
                (0.14, 2 * math.pi / rng.uniform(480.0, 1200.0), rng.uniform(0, 2 * math.pi)),
                (0.06, 2 * math.pi / rng.uniform(45.0, 120.0), rng.uniform(0, 2 * math.pi)),
            )
            self.flows.append(_Flow(mesh, call, waves))
        self._incident_targets = sorted((s.namespace, s.name) for s in mesh.services if s.protocol in ("http", "grpc"))
        self._incidents: dict[int, Incident | None] = {}
        self._flow_namespaces = [flow.namespaces() for flow in self.flows]

    # --- incidents -------------------------------------------------------------------------

    def _incident_in_slot(self, slot: int) -> Incident | None:
        if slot in self._incidents:
            return self._incidents[slot]
        incident = None
        if self._incident_targets:
            rng = random.Random(f"demo-incident:{self.mesh.name}:{self.seed}:{slot}")
            start = slot * INCIDENT_SLOT_S + rng.uniform(0.0, 600.0)
            end = start + rng.uniform(120.0, 360.0)
            service = rng.choice(self._incident_targets)
            if rng.random() < 0.6:
                incident = Incident(start, end, service, "errors", rng.uniform(0.15, 0.6))
            else:
                incident = Incident(start, end, service, "latency", rng.uniform(4.0, 10.0))
        if len(self._incidents) > 4096:
            self._incidents.clear()
        self._incidents[slot] = incident
        return incident

    def incidents(self, a: float, b: float) -> list[Incident]:
        """The incidents that overlap ``[a, b]``, oldest first."""
        found = []
        for slot in range(math.floor(a / INCIDENT_SLOT_S), math.floor(b / INCIDENT_SLOT_S) + 1):
            incident = self._incident_in_slot(slot)
            if incident is not None and incident.end > a and incident.start < b:
                found.append(incident)
        return found

    # --- traffic ---------------------------------------------------------------------------

    def traffic(self, a: float, b: float, namespaces: frozenset[str] | None = None) -> Traffic:
        """Exact totals of every series during ``[a, b]`` (unix seconds, ``a <= b``).

        ``namespaces`` keeps only calls from or to those namespaces (``None``: all). Series with
        nothing in the interval are left out. Raises ``ValueError`` when ``b < a``.
        """
        if b < a:
            raise ValueError("the interval ends before it starts")
        out = Traffic(a, b, {}, {})
        if b == a:
            return out
        incidents: dict[tuple[str, str], list[Incident]] = {}
        for incident in self.incidents(a, b):
            incidents.setdefault(incident.service, []).append(incident)
        history = self._routing_history()
        for flow, flow_ns in zip(self.flows, self._flow_namespaces, strict=True):
            if namespaces is not None and not (flow_ns & namespaces):
                continue
            self._flow_traffic(flow, a, b, incidents, history, out)
        return out

    def _routing_history(self) -> dict[tuple[str, str], tuple[list[float], list[RoutingPolicy]]]:
        if self.routing is None:
            return {}
        result = {}
        for key, entry in self.routing().items():
            changes = _history_of(entry)
            result[key] = ([t for t, _ in changes], [policy for _, policy in changes])
        return result

    @staticmethod
    def _policy_at(history: tuple[list[float], list[RoutingPolicy]] | None, t: float) -> RoutingPolicy | None:
        if history is None:
            return None
        index = bisect.bisect_right(history[0], t) - 1
        return history[1][index] if index >= 0 else None

    def _flow_traffic(self, flow: _Flow, a: float, b: float, incidents: dict, history: dict, out: Traffic) -> None:
        service = flow.service
        own = incidents.get((service.namespace, service.name), ()) if service is not None else ()
        dest_history = history.get((service.namespace, service.name)) if service is not None else None
        source_service = flow.source_service
        source_history = (
            history.get((source_service.namespace, source_service.name)) if source_service is not None else None
        )
        if not own and dest_history is None and source_history is None:
            # The common case: nothing changes inside the window.
            if flow.protocol == "tcp":
                self._emit_tcp(flow, flow.volume(a, b), None, out)
            else:
                self._emit_requests(flow, flow.volume(a, b), None, None, out)
            return
        cuts = {a, b}
        for incident in own:
            cuts.update(t for t in (incident.start, incident.end) if a < t < b)
        for hist in (dest_history, source_history):
            if hist is not None:
                cuts.update(t for t in hist[0] if a < t < b)
        points = sorted(cuts)
        for x, y in itertools.pairwise(points):
            middle = (x + y) / 2.0
            volume = flow.volume(x, y)
            if volume <= 0:
                continue
            incident = next((i for i in own if i.start <= middle < i.end), None)
            policy = self._policy_at(dest_history, middle)
            source_policy = self._policy_at(source_history, middle)
            for share, class_policy, class_source_policy in self._header_parts(flow, policy, source_policy):
                part = volume * share * self._source_factor(flow, class_source_policy)
                if part <= 0:
                    continue
                if flow.protocol == "tcp":
                    self._emit_tcp(flow, part, class_policy, out)
                else:
                    self._emit_requests(flow, part, class_policy, incident, out)

    @staticmethod
    def _header_parts(
        flow: _Flow, policy: RoutingPolicy | None, source_policy: RoutingPolicy | None
    ) -> list[tuple[float, RoutingPolicy | None, RoutingPolicy | None]]:
        """``flow``'s traffic split by header class: ``(share, policy of its route at the
        destination, policy of its route into the source's service)``, classes routed alike
        merged (so without match routes: one part of share 1, the policies as they are)."""
        dest_routes = policy.class_routes if policy is not None and policy.routes and flow.header_routed else None
        source_routes = source_policy.class_routes if source_policy is not None and source_policy.routes else None
        if dest_routes is None and source_routes is None:
            return [(1.0, policy, source_policy)]
        merged: dict[tuple[int, int], float] = {}
        for index, header_class in enumerate(HEADER_CLASSES):
            key = (
                dest_routes[index] if dest_routes is not None else -1,
                source_routes[index] if source_routes is not None else -1,
            )
            merged[key] = merged.get(key, 0.0) + header_class.share
        return [
            (
                share,
                policy.on_route(dest_route) if policy is not None else None,
                source_policy.on_route(source_route) if source_policy is not None else None,
            )
            for (dest_route, source_route), share in merged.items()
        ]

    @staticmethod
    def _source_factor(flow: _Flow, policy: RoutingPolicy | None) -> float:
        """The source workload's traffic under ``policy`` (the route into its service a header
        class takes) relative to its even share of its service (requests aborted in front of it
        never arrive, so it makes no calls for them)."""
        if policy is None or not flow.siblings:
            return 1.0
        share = policy.shares(flow.siblings)[flow.sibling_index]
        kept = 1.0 - (policy.abort.percent / 100.0 if policy.abort is not None else 0.0)
        return share * len(flow.siblings) * kept

    def _emit_tcp(self, flow: _Flow, volume: float, policy: RoutingPolicy | None, out: Traffic) -> None:
        shares = self._shares(flow, policy)
        service = flow.service
        dest_policy = ("mutual_tls" if service.mtls else "none") if service is not None else UNKNOWN
        ratio = flow.call.received_ratio
        tcp = out.tcp
        for share, (source_key, dest_key) in zip(shares, flow.dest_keys, strict=True):
            sent = volume * share
            if sent <= 0:
                continue
            for key, csp in ((source_key, UNKNOWN), (dest_key, dest_policy)):
                if key is None:
                    continue
                acc = tcp.get((key, _OK_FLAGS, csp))
                if acc is None:
                    tcp[(key, _OK_FLAGS, csp)] = [sent, sent * ratio]
                else:
                    acc[0] += sent
                    acc[1] += sent * ratio

    def _shares(self, flow: _Flow, policy: RoutingPolicy | None) -> list[float]:
        if flow.service is None:
            return [1.0]
        # Without a client sidecar no VirtualService applies: Kubernetes spreads evenly.
        if policy is None or flow.dest_keys[0][0] is None:
            return [1.0 / len(flow.workloads)] * len(flow.workloads)
        return policy.shares(flow.workloads)

    def _emit_requests(
        self,
        flow: _Flow,
        volume: float,
        policy: RoutingPolicy | None,
        incident: Incident | None,
        out: Traffic,
    ) -> None:
        requests = out.requests
        grpc = flow.protocol == "grpc"
        ok_outcome = ("200", "0" if grpc else "", _OK_FLAGS)
        client_has_proxy = flow.dest_keys[0][0] is not None
        if not client_has_proxy:
            policy = None
        if flow.external is not None:
            latency = flow.external.latency
            dist = ((1.0, "L", math.log(latency.median_ms), latency.sigma, CLIENT_OVERHEAD_MS, math.inf),)
            _add(requests, (flow.dest_keys[0][0], ok_outcome, UNKNOWN), volume, dist)
            return
        service = flow.service
        assert service is not None
        if policy is not None and policy.abort is not None and policy.abort.percent > 0:
            aborted = volume * policy.abort.percent / 100.0
            volume -= aborted
            status = policy.abort.http_status
            outcome = (str(status), _grpc_status_of(status) if grpc else "", "FI")
            _add(requests, (flow.abort_keys, outcome, UNKNOWN), aborted, ((1.0, "P", ABORT_MS),))
        if volume <= 0:
            return
        dest_policy = "mutual_tls" if service.mtls else "none"
        timeout = policy.timeout_ms if policy is not None and policy.timeout_ms is not None else math.inf
        delayed = policy.delay.percent / 100.0 if policy is not None and policy.delay is not None else 0.0
        delay_ms = policy.delay.fixed_delay_ms if policy is not None and policy.delay is not None else 0.0
        failing = incident.severity if incident is not None and incident.kind == "errors" else 0.0
        slowdown = incident.severity if incident is not None and incident.kind == "latency" else 1.0
        shares = self._shares(flow, policy)
        for share, workload, (source_key, dest_key) in zip(shares, flow.workloads, flow.dest_keys, strict=True):
            delivered = volume * share
            if delivered <= 0:
                continue
            mu = math.log(workload.latency.median_ms * slowdown)
            sigma = workload.latency.sigma
            late = 1.0 - _lognormal_cdf(timeout, mu, sigma) if math.isfinite(timeout) else 0.0
            answered = delivered * (1.0 - late)
            server = ((1.0, "L", mu, sigma, 0.0, timeout),)
            client = _client_dist(mu, sigma, timeout, delayed, delay_ms)
            outcomes = _outcomes(service, grpc, answered, failing)
            for outcome, count in outcomes:
                if count <= 0:
                    continue
                if source_key is not None:
                    _add(requests, (source_key, outcome, UNKNOWN), count, client)
                if dest_key is not None:
                    _add(requests, (dest_key, outcome, dest_policy), count, server)
            timed_out = delivered * late
            if timed_out > 0:
                if source_key is not None:
                    waited = timeout + CLIENT_OVERHEAD_MS
                    point = (
                        ((1.0 - delayed, "P", waited), (delayed, "P", waited + delay_ms))
                        if delayed
                        else ((1.0, "P", waited),)
                    )
                    _add(requests, (source_key, ("504", "", "UT"), UNKNOWN), timed_out, point)
                if dest_key is not None:
                    _add(requests, (dest_key, ("0", "", "DC"), dest_policy), timed_out, ((1.0, "P", timeout),))


def _add(requests: dict[tuple, list], key: tuple, count: float, dist: Dist) -> None:
    acc = requests.get(key)
    if acc is None:
        requests[key] = [count, {dist: count}]
        return
    acc[0] += count
    per = acc[1]
    per[dist] = per.get(dist, 0.0) + count


def _client_dist(mu: float, sigma: float, timeout: float, delayed: float, delay_ms: float) -> Dist:
    """What the client proxy measures: the server's time plus the hop, plus the injected delay
    for the delayed share."""
    if delayed <= 0:
        return ((1.0, "L", mu, sigma, CLIENT_OVERHEAD_MS, timeout),)
    if delayed >= 1:
        return ((1.0, "L", mu, sigma, CLIENT_OVERHEAD_MS + delay_ms, timeout),)
    return (
        (1.0 - delayed, "L", mu, sigma, CLIENT_OVERHEAD_MS, timeout),
        (delayed, "L", mu, sigma, CLIENT_OVERHEAD_MS + delay_ms, timeout),
    )


def _outcomes(
    service: Service, grpc: bool, answered: float, failing: float
) -> list[tuple[tuple[str, str, str], float]]:
    """Split the answered requests into (response_code, grpc_response_status, flags) outcomes:
    an incident's failures first, then the service's background errors, the rest OK."""
    failed = answered * failing
    rest = answered - failed
    errors_5xx = rest * service.errors_5xx
    if grpc:
        grpc_errors = rest * service.grpc_errors
        return [
            (("200", "14", _OK_FLAGS), failed),
            ((service.error_5xx_code, "14", _OK_FLAGS), errors_5xx),
            (("200", service.grpc_error_status, _OK_FLAGS), grpc_errors),
            (("200", "0", _OK_FLAGS), rest - errors_5xx - grpc_errors),
        ]
    errors_4xx = rest * service.errors_4xx
    return [
        (("503", "", _OK_FLAGS), failed),
        ((service.error_5xx_code, "", _OK_FLAGS), errors_5xx),
        (("404", "", _OK_FLAGS), errors_4xx),
        (("200", "", _OK_FLAGS), rest - errors_5xx - errors_4xx),
    ]


# gRPC status a client proxy reports with an injected HTTP abort (Envoy maps HTTP to gRPC codes).
_GRPC_OF_HTTP = {400: "13", 401: "16", 403: "7", 404: "12", 429: "14", 502: "14", 503: "14", 504: "14"}


def _grpc_status_of(http_status: int) -> str:
    return _GRPC_OF_HTTP.get(http_status, "2")
