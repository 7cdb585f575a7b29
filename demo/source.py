"""``DemoTelemetrySource``: the demo mesh behind the same ``TelemetrySource`` protocol as Prometheus.

A read returns exactly what ``metrics.reader.PrometheusTelemetrySource`` returns for a
Prometheus that scrapes the demo exporter: the five lists grouped by the label tuples of
``topology.graph.telemetry``, each value the exact average rate over the window (the counter
difference divided by the window). Histogram buckets come complete (all 20 bounds) for every
edge that carried requests. Label values are Istio's; labels Istio leaves empty are ``""``.
"""

from __future__ import annotations

import gc

from demo.mesh import MeshDefinition, bookinfo_mesh, synthetic_mesh
from demo.simulate import BUCKET_BOUNDS, RoutingProvider, Simulator, Traffic, dist_profile
from topology.graph.telemetry import (
    DURATION_BUCKET_LABELS,
    DURATION_SUM_LABELS,
    EDGE_LABELS,
    REQUEST_LABELS,
    TCP_LABELS,
    MeshTelemetry,
    Sample,
)

DEFAULT_SEED = 1
# The read below builds label dicts positionally from these layouts.
_CONTRACT = (
    DURATION_SUM_LABELS == EDGE_LABELS
    and (*EDGE_LABELS, "le") == DURATION_BUCKET_LABELS
    and REQUEST_LABELS[: len(EDGE_LABELS)] == EDGE_LABELS
    and (*EDGE_LABELS, "response_flags", "connection_security_policy") == TCP_LABELS
)
if not _CONTRACT:
    raise ImportError("topology.graph.telemetry's label layout changed: update demo.source")


def demo_mesh(size: int = 0, seed: int = DEFAULT_SEED) -> MeshDefinition:
    """The Bookinfo + shop demo when ``size`` is 0, else ``synthetic_mesh(size, seed)``.

    Raises ``ValueError`` for a negative size or a size of 1.
    """
    if size < 0:
        raise ValueError("size must not be negative")
    return bookinfo_mesh() if size == 0 else synthetic_mesh(size, seed)


class DemoTelemetrySource:
    """``TelemetrySource`` over the built-in demo mesh (default: ``bookinfo_mesh()``).

    ``seed`` fixes the drift phases and the incident schedule; ``routing`` (see
    ``demo.simulate.RoutingProvider``) feeds the operator's routing. Reads are pure functions of
    ``(mesh, seed, routing history, query_time, window_s, namespaces)``.
    """

    def __init__(
        self,
        mesh: MeshDefinition | None = None,
        *,
        seed: int = DEFAULT_SEED,
        routing: RoutingProvider | None = None,
    ) -> None:
        self.mesh = mesh if mesh is not None else bookinfo_mesh()
        self.seed = seed
        self.simulator = Simulator(self.mesh, seed, routing)

    def __repr__(self) -> str:
        return f"DemoTelemetrySource(mesh={self.mesh.name!r}, seed={self.seed})"

    def read(self, *, query_time: float, window_s: int, namespaces: frozenset[str] | None) -> MeshTelemetry:
        """The demo mesh's traffic during ``window_s`` seconds ending at ``query_time``.

        ``namespaces`` narrows the read to calls from or to those namespaces (``None``: all).
        Any ``query_time`` works, past or future: traffic is a function of the clock. Raises
        ``ValueError`` for a non-positive window.
        """
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        traffic = self.simulator.traffic(query_time - window_s, query_time, namespaces)
        # Hundreds of thousands of acyclic dicts: the cyclic collector would only rescan them.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._telemetry(traffic, query_time, window_s)
        finally:
            if collecting:
                gc.enable()

    @staticmethod
    def _telemetry(traffic: Traffic, query_time: float, window_s: int) -> MeshTelemetry:
        telemetry = MeshTelemetry(query_time=query_time, window_s=window_s)
        per_second = 1.0 / window_s
        requests = telemetry.requests
        # Per edge: observations per latency distribution, summed over outcomes (the histogram
        # is grouped by the edge only); most edges have one distribution for all outcomes.
        edges: dict[tuple, dict] = {}
        for (edge, outcome, policy), (count, dists) in traffic.requests.items():
            requests.append(
                Sample(dict(zip(REQUEST_LABELS, (*edge, *outcome, policy), strict=True)), count * per_second)
            )
            per_dist = edges.get(edge)
            if per_dist is None:
                edges[edge] = dict(dists)
                continue
            for dist, share in dists.items():
                per_dist[dist] = per_dist.get(dist, 0.0) + share
        bucket_samples = telemetry.duration_buckets
        sum_samples = telemetry.duration_sum
        for edge, per_dist in edges.items():
            rates: list[float] | None = None
            total_ms = 0.0
            for dist, count in per_dist.items():
                cdf, mean = dist_profile(dist)
                scaled = count * per_second
                total_ms += scaled * mean
                if rates is None:
                    rates = [scaled * fraction for fraction in cdf]
                else:
                    rates = [rate + scaled * fraction for rate, fraction in zip(rates, cdf, strict=True)]
            assert rates is not None
            labels = dict(zip(EDGE_LABELS, edge, strict=True))
            sum_samples.append(Sample(labels, total_ms))
            bucket_samples.extend(
                Sample({**labels, "le": le}, rate) for le, rate in zip(BUCKET_BOUNDS, rates, strict=True)
            )
        for (edge, flags, policy), (sent, received) in traffic.tcp.items():
            labels = dict(zip(TCP_LABELS, (*edge, flags, policy), strict=True))
            telemetry.tcp_sent.append(Sample(labels, sent * per_second))
            telemetry.tcp_received.append(Sample(dict(labels), received * per_second))
        return telemetry
