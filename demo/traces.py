"""Traces of the demo mesh, in Jaeger's JSON, as exact functions of seed and time (pure).

The demo samples requests the way Istio does by default (``SAMPLING`` = 1 %): time is cut
into ``BUCKET_S``-second buckets; in each bucket every entry call (from the ingress gateway
or from clients outside the mesh) starts a Poisson number of sampled requests whose mean is
the call's request volume in the bucket (``Simulator.flows[i].volume``) times the sampling.
Each request walks the mesh as the telemetry says it does:

* each trace draws its header class (``demo.simulate.HEADER_CLASSES``, by share) from its
  seed; every hop carries those headers (the applications propagate them) and every in-mesh
  span shows them as ``http.header.<name>`` tags (e.g. ``http.header.x-group: test``), as a
  Telemetry resource's custom tags taken from request headers would;
* at each hop the client proxy takes the first match route the headers match, else the
  default route (``RoutingPolicy.on_route``) of the policy in force at that instant; the
  destination workload is drawn with that route's shares (``RoutingPolicy.shares``, the
  subset in ``upstream_cluster``), and on the default route a fault-injected abort ends the
  branch with one error span of the client proxy (flag ``FI``), a delay holds the client, a
  route timeout answers 504;
* the server time is drawn from the workload's latency model (log-normal, median and sigma of
  ``demo.mesh.Latency``), times the slowdown of a latency incident in progress;
* outcomes follow the service's background error shares and any error incident;
* a workload calls each service it calls in the mesh definition ``rate / (its share of its
  own service's traffic)`` times per request on average, one after the other.

Every hop has a client span (the caller's sidecar) and a server span (the callee's sidecar),
named ``<app>.<namespace>`` as Istio names them in Jaeger. A trace id encodes where the trace
comes from (bucket, entry call, index), so ``trace(trace_id)`` rebuilds it without storage.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from demo.mesh import Call, Service, Workload
from demo.simulate import ABORT_MS, CLIENT_OVERHEAD_MS, HEADER_CLASSES, Incident, RoutingPolicy, Simulator

SAMPLING = 0.01
BUCKET_S = 10
# A walk of a large synthetic mesh could fan out without end: traces stop growing here.
MAX_SPANS = 300
MAX_CALLS_PER_REQUEST = 3
# Traces in one bucket of one entry call (the id has two hex digits for the index).
_MAX_PER_BUCKET = 255
_PORTS = {"http": 9080, "grpc": 50051}

History = dict[tuple[str, str], list[tuple[float, RoutingPolicy]]]


def jaeger_service(workload: Workload) -> str:
    """The Jaeger service name of ``workload``'s sidecar: ``<app>.<namespace>``, as Istio names it."""
    return f"{workload.app}.{workload.namespace}"


def _history(routing: Mapping[tuple[str, str], Any]) -> History:
    """A routing provider's answer with every entry as a time-sorted list of changes."""
    result: History = {}
    for key, entry in routing.items():
        if len(entry) == 2 and isinstance(entry[1], RoutingPolicy):
            changes = [(float(entry[0]), entry[1])]
        else:
            changes = sorted(((float(t), policy) for t, policy in entry), key=lambda item: item[0])
        result[key] = changes
    return result


def _policy_at(changes: Sequence[tuple[float, RoutingPolicy]] | None, t: float) -> RoutingPolicy | None:
    policy = None
    for changed_at, candidate in changes or ():
        if changed_at > t:
            break
        policy = candidate
    return policy


def _header_class(draw: float) -> int:
    """The index in ``HEADER_CLASSES`` a uniform ``draw`` in ``[0, 1)`` falls in, by share."""
    for index, header_class in enumerate(HEADER_CLASSES):
        draw -= header_class.share
        if draw < 0:
            return index
    return len(HEADER_CLASSES) - 1


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; means here are small)."""
    if mean <= 0:
        return 0
    limit = math.exp(-min(mean, 200.0))
    count, product = 0, rng.random()
    while product > limit and count < _MAX_PER_BUCKET:
        count += 1
        product *= rng.random()
    return count


@dataclass(frozen=True, slots=True)
class TraceRef:
    """Where a demo trace comes from: bucket number, entry call index, index in the bucket."""

    bucket: int
    entry: int
    index: int


class DemoTraces:
    """The sampled traces of ``simulator``'s mesh (same seed and routing → same traces).

    ``traces(a, b)`` yields Jaeger trace objects started within ``[a, b]`` (unix seconds),
    newest bucket first; ``trace(trace_id)`` rebuilds one or returns ``None``.
    """

    def __init__(self, simulator: Simulator, sampling: float = SAMPLING) -> None:
        if not 0 < sampling <= 1:
            raise ValueError("sampling must be within (0, 1]")
        self.simulator = simulator
        self.mesh = simulator.mesh
        self.sampling = sampling
        mesh = self.mesh
        self._calls_from: dict[tuple[str, str], list[Call]] = {}
        inbound: dict[tuple[str, str], float] = {}
        for call in mesh.calls:
            if mesh.protocol_of(call) == "tcp":
                continue
            if call.source is not None:
                self._calls_from.setdefault(call.source, []).append(call)
            if call.service is not None:
                inbound[call.service] = inbound.get(call.service, 0.0) + call.rate
        # Requests per second one workload of each service serves at its even share.
        self._per_workload = {key: rate / len(mesh.service_index[key].workloads) for key, rate in inbound.items()}
        # Entry calls: from outside the mesh or from a workload that serves no service (a gateway).
        self.entries = [
            index
            for index, flow in enumerate(simulator.flows)
            if flow.service is not None
            and flow.protocol != "tcp"
            and (flow.call.source is None or flow.call.source not in mesh.service_of_workload)
        ]
        self.reachable = {index: self._reach(simulator.flows[index].call) for index in self.entries}

    def _reach(self, call: Call) -> frozenset[str]:
        """Jaeger services a trace of entry ``call`` may contain."""
        names: set[str] = set()
        if call.source is not None:
            names.add(jaeger_service(self.mesh.workload_index[call.source]))
        todo = [call]
        seen: set[tuple[str, str]] = set()
        while todo:
            current = todo.pop()
            if current.service is None or current.service in seen:
                continue
            seen.add(current.service)
            service = self.mesh.service_index[current.service]
            for name in service.workloads:
                workload = self.mesh.workload_index[(service.namespace, name)]
                names.add(jaeger_service(workload))
                todo.extend(self._calls_from.get((service.namespace, name), ()))
        return frozenset(names)

    def services(self) -> list[str]:
        """Every Jaeger service name the demo's traces use, sorted."""
        return sorted(set().union(*self.reachable.values())) if self.reachable else []

    # --- ids ------------------------------------------------------------------------------

    def _check(self, ref: TraceRef) -> str:
        text = f"{self.mesh.name}:{self.simulator.seed}:{ref.bucket}:{ref.entry}:{ref.index}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def trace_id(self, ref: TraceRef) -> str:
        """32 hex digits: a check of the origin, then bucket, entry and index."""
        return f"{self._check(ref)}{ref.bucket:010x}{ref.entry:04x}{ref.index:02x}"

    def ref_of(self, trace_id: str) -> TraceRef | None:
        """The origin encoded in ``trace_id``, or ``None`` when it is not one of this demo's ids."""
        text = trace_id.lower().rjust(32, "0")
        if len(text) != 32:
            return None
        try:
            ref = TraceRef(int(text[16:26], 16), int(text[26:30], 16), int(text[30:32], 16))
        except ValueError:
            return None
        if ref.entry not in self.reachable or self._check(ref) != text[:16]:
            return None
        return ref

    # --- reading --------------------------------------------------------------------------

    def _bucket(self, bucket: int, entry: int) -> list[float]:
        """Start times (unix s) of the sampled requests of ``entry`` in ``bucket``, by index."""
        rng = random.Random(f"demo-trace:{self.mesh.name}:{self.simulator.seed}:{entry}:{bucket}")
        a = bucket * BUCKET_S
        mean = self.simulator.flows[entry].volume(a, a + BUCKET_S) * self.sampling
        return [a + rng.random() * BUCKET_S for _ in range(_poisson(rng, mean))]

    def refs(self, a: float, b: float, entries: Sequence[int] | None = None) -> Iterator[tuple[float, TraceRef]]:
        """``(start, ref)`` of the sampled requests started within ``[a, b]``, newest first."""
        chosen = self.entries if entries is None else list(entries)
        for bucket in range(math.floor(b / BUCKET_S), math.floor(a / BUCKET_S) - 1, -1):
            found = [
                (start, TraceRef(bucket, entry, index))
                for entry in chosen
                for index, start in enumerate(self._bucket(bucket, entry))
                if a <= start <= b
            ]
            found.sort(key=lambda item: -item[0])
            yield from found

    def routing_history(self) -> History:
        """The simulator's routing history now (one call of its provider)."""
        return _history(self.simulator.routing()) if self.simulator.routing is not None else {}

    def trace(self, trace_id: str, history: History | None = None) -> dict[str, Any] | None:
        """The Jaeger trace object of ``trace_id``, or ``None`` when the demo never made it."""
        ref = self.ref_of(trace_id)
        if ref is None:
            return None
        starts = self._bucket(ref.bucket, ref.entry)
        if ref.index >= len(starts):
            return None
        return self.build(ref, starts[ref.index], self.routing_history() if history is None else history)

    def build(self, ref: TraceRef, start: float, history: History) -> dict[str, Any]:
        """The Jaeger trace object of the request ``ref`` started at ``start`` (unix s)."""
        walk = _Walk(self, ref, start, history)
        walk.request(self.simulator.flows[ref.entry].call, None, int(start * 1_000_000))
        return walk.jaeger()


class _Walk:
    """One request through the mesh, collecting spans."""

    def __init__(self, traces: DemoTraces, ref: TraceRef, start: float, history: History) -> None:
        self.traces = traces
        self.mesh = traces.mesh
        self.trace_id = traces.trace_id(ref)
        self.rng = random.Random(f"demo-walk:{self.trace_id}")
        # The root's headers, carried by every hop of the request.
        self.header_class = _header_class(self.rng.random())
        self.header_tags = {
            f"http.header.{name}": value for name, value in HEADER_CLASSES[self.header_class].headers.items()
        }
        self.t = start
        self.history = history
        self.incidents: dict[tuple[str, str], Incident] = {
            incident.service: incident
            for incident in traces.simulator.incidents(start, start)
            if incident.start <= start < incident.end
        }
        self.spans: list[dict[str, Any]] = []
        self.processes: dict[str, str] = {}

    # --- spans ----------------------------------------------------------------------------

    def _span_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def _span(
        self,
        workload: Workload,
        kind: str,
        operation: str,
        parent: str | None,
        start_us: int,
        duration_us: int,
        tags: dict[str, Any],
    ) -> str:
        span_id = self._span_id()
        service = jaeger_service(workload)
        process = self.processes.setdefault(service, f"p{len(self.processes) + 1}")
        all_tags = {
            "span.kind": kind,
            "component": "proxy",
            "node_id": f"sidecar~10.0.0.1~{workload.name}-0.{workload.namespace}~{workload.namespace}.svc",
            "istio.namespace": workload.namespace,
            "istio.canonical_service": workload.app,
            "istio.canonical_revision": workload.version,
            **tags,
        }
        self.spans.append(
            {
                "traceID": self.trace_id,
                "spanID": span_id,
                "flags": 1,
                "operationName": operation,
                "references": [{"refType": "CHILD_OF", "traceID": self.trace_id, "spanID": parent}] if parent else [],
                "startTime": start_us,
                "duration": max(duration_us, 1),
                "tags": [_tag(key, value) for key, value in all_tags.items()],
                "logs": [],
                "processID": process,
                "warnings": None,
            }
        )
        return span_id

    def jaeger(self) -> dict[str, Any]:
        return {
            "traceID": self.trace_id,
            "spans": self.spans,
            "processes": {
                pid: {"serviceName": name, "tags": [_tag("ip", "10.0.0.1")]} for name, pid in self.processes.items()
            },
            "warnings": None,
        }

    # --- the walk -------------------------------------------------------------------------

    def request(self, call: Call, parent: str | None, start_us: int) -> int:
        """Spans of one request of ``call`` made at ``start_us`` by the span ``parent``; returns
        when the caller has its answer (µs)."""
        mesh = self.mesh
        protocol = mesh.protocol_of(call)
        source = mesh.workload_index[call.source] if call.source is not None else None
        client_proxy = source is not None and source.sidecar
        port = _PORTS.get(protocol, 80)
        if call.external is not None:
            external = mesh.external_index[call.external]
            ms = self.rng.lognormvariate(math.log(external.latency.median_ms), external.latency.sigma)
            duration = int((ms + CLIENT_OVERHEAD_MS) * 1000)
            if client_proxy and source is not None:
                cluster = "PassthroughCluster" if external.passthrough else f"outbound|443||{external.host}"
                self._span(
                    source, "client", f"{external.host}:443/*", parent, start_us, duration,
                    {"http.method": "POST", "http.url": f"https://{external.host}/", "http.status_code": 200,
                     "response_flags": "-", "upstream_cluster": cluster, "peer.service": external.host},
                )  # fmt: skip
            return start_us + duration
        assert call.service is not None
        service = mesh.service_index[call.service]
        host = service.host(mesh.domain)
        operation = f"{host}:{port}/*"
        url = f"http://{host}:{port}/{service.name}"
        method = "POST" if protocol == "grpc" else "GET"
        policy = _policy_at(self.history.get(call.service), self.t) if client_proxy else None
        if policy is not None:
            policy = policy.on_route(policy.class_routes[self.header_class])
        if policy is not None and policy.abort is not None and self.rng.random() * 100.0 < policy.abort.percent:
            status = policy.abort.http_status
            tags = {"http.method": method, "http.url": url, "http.status_code": status, "response_flags": "FI",
                    "upstream_cluster": f"outbound|{port}||{host}", **self.header_tags}  # fmt: skip
            if status >= 500:
                tags["error"] = True
            assert source is not None
            duration = int(ABORT_MS * 1000)
            self._span(source, "client", operation, parent, start_us, duration, tags)
            return start_us + duration
        delayed = policy is not None and policy.delay is not None and self.rng.random() * 100.0 < policy.delay.percent
        delay_us = int(policy.delay.fixed_delay_ms * 1000) if delayed and policy and policy.delay else 0
        workloads = [mesh.workload_index[(service.namespace, name)] for name in service.workloads]
        shares = policy.shares(workloads) if policy is not None else [1.0 / len(workloads)] * len(workloads)
        workload = self.rng.choices(workloads, weights=shares)[0]
        incident = self.incidents.get(call.service)
        slowdown = incident.severity if incident is not None and incident.kind == "latency" else 1.0
        failing = incident.severity if incident is not None and incident.kind == "errors" else 0.0
        own_ms = self.rng.lognormvariate(math.log(workload.latency.median_ms * slowdown), workload.latency.sigma)
        http_status, grpc_status = self._outcome(service, protocol == "grpc", failing)
        hop_us = int(CLIENT_OVERHEAD_MS * 1000)
        server_start = start_us + delay_us + hop_us // 2
        client_id = self._span_id() if client_proxy else None
        server_id, server_end = self._serve(
            workload, service, operation, url, method, client_id, server_start, own_ms, http_status, grpc_status
        )
        server_us = server_end - server_start
        timeout_us = int(policy.timeout_ms * 1000) if policy is not None and policy.timeout_ms is not None else None
        timed_out = timeout_us is not None and server_us > timeout_us
        if timed_out and server_id is not None:
            # The client went away: the server's proxy reports a downstream disconnect.
            self._retag(server_id, {"response_flags": "DC", "http.status_code": 0})
        if not client_proxy or source is None or client_id is None:
            return server_end + hop_us // 2
        if timed_out:
            assert timeout_us is not None
            duration = delay_us + timeout_us + hop_us
            tags = {"http.status_code": 504, "response_flags": "UT", "error": True}
        else:
            duration = delay_us + server_us + hop_us
            tags = {"http.status_code": http_status, "response_flags": "-"}
            if protocol == "grpc":
                tags["grpc.status_code"] = grpc_status
            if http_status >= 500 or (protocol == "grpc" and grpc_status != 0):
                tags["error"] = True
        if delayed:
            tags["response_flags"] = "DI" if tags["response_flags"] == "-" else f"DI,{tags['response_flags']}"
        subset = workload.version if policy is not None and policy.weights else ""
        base = {"http.method": method, "http.url": url, "upstream_cluster": f"outbound|{port}|{subset}|{host}",
                **self.header_tags}  # fmt: skip
        self._insert_client(client_id, source, operation, parent, start_us, duration, {**base, **tags})
        return start_us + duration

    def _outcome(self, service: Service, grpc: bool, failing: float) -> tuple[int, int]:
        """(HTTP status, gRPC status) of one answered request, as ``demo.simulate`` splits them."""
        roll = self.rng.random()
        if roll < failing:
            return (200, 14) if grpc else (503, 0)
        roll = self.rng.random()
        if roll < service.errors_5xx:
            return int(service.error_5xx_code), 14 if grpc else 0
        roll -= service.errors_5xx
        if grpc:
            return (200, int(service.grpc_error_status)) if roll < service.grpc_errors else (200, 0)
        return (404, 0) if roll < service.errors_4xx else (200, 0)

    def _serve(
        self,
        workload: Workload,
        service: Service,
        operation: str,
        url: str,
        method: str,
        parent: str | None,
        start_us: int,
        own_ms: float,
        http_status: int,
        grpc_status: int,
    ) -> tuple[str | None, int]:
        """The server span and the calls the workload makes while serving; returns (span id, end µs)."""
        own_us = int(own_ms * 1000)
        cursor = start_us + own_us // 10
        index = len(self.spans)
        if workload.sidecar:
            server_id: str | None = self._span(
                workload, "server", operation, parent, start_us, own_us,
                {"http.method": method, "http.url": url, "http.status_code": http_status, "response_flags": "-",
                 "upstream_cluster": f"inbound|{_PORTS.get(service.protocol, 80)}||", **self.header_tags},
            )  # fmt: skip
        else:
            server_id = None
        caller = server_id or parent
        per_workload = self.traces._per_workload.get((service.namespace, service.name), 0.0)
        for call in self.traces._calls_from.get((workload.namespace, workload.name), ()):
            if len(self.spans) >= MAX_SPANS or per_workload <= 0:
                break
            expected = min(call.rate / per_workload, float(MAX_CALLS_PER_REQUEST))
            count = int(expected) + (1 if self.rng.random() < expected - int(expected) else 0)
            for _ in range(count):
                if len(self.spans) >= MAX_SPANS:
                    break
                cursor = self.request(call, caller, cursor)
        end = max(start_us + own_us, cursor + own_us // 20)
        tags: dict[str, Any] = {}
        if service.protocol == "grpc":
            tags["grpc.status_code"] = grpc_status
        if http_status >= 500 or grpc_status != 0:
            tags["error"] = True
        if server_id is not None:
            span = self.spans[index]
            span["duration"] = max(end - start_us, 1)
            span["tags"].extend(_tag(key, value) for key, value in tags.items())
        return server_id, end

    def _retag(self, span_id: str, tags: dict[str, Any]) -> None:
        for span in self.spans:
            if span["spanID"] == span_id:
                kept = [tag for tag in span["tags"] if tag["key"] not in tags]
                span["tags"] = kept + [_tag(key, value) for key, value in tags.items()]
                return

    def _insert_client(
        self,
        span_id: str,
        source: Workload,
        operation: str,
        parent: str | None,
        start_us: int,
        duration_us: int,
        tags: dict[str, Any],
    ) -> None:
        """Add the client span whose id its server span already references."""
        self._span(source, "client", operation, parent, start_us, duration_us, tags)
        self.spans[-1]["spanID"] = span_id


def _tag(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        kind = "bool"
    elif isinstance(value, int):
        kind = "int64"
    elif isinstance(value, float):
        kind = "float64"
    else:
        kind = "string"
    return {"key": key, "type": kind, "value": value}
