"""The server side of bench/fanout.py: meshui's real ASGI application with a synthetic source.

daphne serves ``bench.fanout_app:application``. This module (bench only, never the product)
reads three variables set by the bench: ``MESHUI_BENCH_TICK_S`` (the refresh interval, below
the product's 1 s minimum so that deltas arrive twice a second), ``MESHUI_BENCH_READS_FILE``
(where the source writes its read count) and ``MESHUI_BENCH_CHANGED_EDGES`` (how many edges
change per read, which sets the delta size). Everything else — origin check, auth, consumer,
hub, ticker, channel layer — is the product's own code.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshui.asgi import application
from topology.graph.telemetry import MeshTelemetry, Sample

EDGES = 60


def _labels(reporter: str, src: str, dst: str) -> dict[str, str]:
    return {
        "reporter": reporter, "source_cluster": "unknown", "source_workload_namespace": "bench",
        "source_workload": src, "source_canonical_service": src, "source_canonical_revision": "v1",
        "destination_cluster": "unknown", "destination_service_namespace": "bench",
        "destination_service": f"{dst}.bench.svc.cluster.local", "destination_service_name": dst,
        "destination_workload_namespace": "bench", "destination_workload": dst,
        "destination_canonical_service": dst, "destination_canonical_revision": "v1",
        "request_protocol": "http", "response_code": "200", "grpc_response_status": "",
        "response_flags": "-", "connection_security_policy": "mutual_tls",
    }  # fmt: skip


class SyntheticSource:
    """A chain of ``EDGES`` workloads; each read changes the rate of the first ``changed`` edges.

    The read's wall-clock time travels in the graph's ``warnings`` (``bench-read-at <t>``), so a
    client can tell how long after the read a delta reached it.
    """

    def __init__(self, changed: int, reads_file: str | None) -> None:
        self.changed = changed
        self.reads_file = reads_file
        self.reads = 0

    def read(self, *, query_time: float, window_s: int, namespaces: frozenset[str] | None) -> MeshTelemetry:
        self.reads += 1
        if self.reads_file:
            Path(self.reads_file).write_text(str(self.reads))
        samples = []
        for index in range(EDGES):
            rate = 100.0 + index + (self.reads % 50 if index < self.changed else 0)
            samples.append(Sample(_labels("destination", f"w{index}", f"w{index + 1}"), rate))
        return MeshTelemetry(
            query_time=query_time, window_s=window_s, requests=samples,
            warnings=[f"bench-read-at {time.time():.6f}"],
        )  # fmt: skip


def install() -> SyntheticSource:
    """Make ``sources.telemetry_source`` the synthetic source and tick at the bench's rate."""
    from django.conf import settings

    import sources

    source = SyntheticSource(int(os.environ.get("MESHUI_BENCH_CHANGED_EDGES", "20")),
                             os.environ.get("MESHUI_BENCH_READS_FILE"))
    sources.telemetry_source = lambda: source
    settings.LIVE_REFRESH_S = float(os.environ.get("MESHUI_BENCH_TICK_S", "0.5"))
    return source


SOURCE = install()
__all__ = ["SOURCE", "SyntheticSource", "application"]
