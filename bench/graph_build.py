"""Benchmark of the graph read path on synthetic Istio telemetry, after Prometheus answered.

Run: ``.venv/bin/python bench/graph_build.py`` (``--quick`` for the 200-service mesh only,
``--services 1000`` for chosen sizes).

For meshes of 200, 1,000 and 5,000 services (about 10 edges per service: 2k, 10k, 50k edges;
about 4 response codes per edge, the 20 Istio duration buckets, one edge in ten over TCP) it
builds the ``/api/v1/query`` bodies the reader's queries return — already counted once (the
destination side, plus a source-only failure on one edge in twenty) and with the identity
joined into ``meshui_edge`` — and times, separately: parsing the five bodies
(``metrics.parse.parse_vector``, what ``PrometheusClient.query`` runs), ``build_graph``,
``assess`` and the JSON bytes (``graph_to_wire`` + ``orjson.dumps``, what
``meshui.renderers.ORJSONRenderer`` runs). It prints figures and the targets they are meant
to meet; it never asserts.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from metrics.parse import _EDGE_CACHE, EDGE_LABEL, EDGE_SEPARATOR, parse_vector
from topology.graph.build import build_graph
from topology.graph.health import assess, default_health_rules
from topology.graph.telemetry import IDENTITY_LABELS, MeshTelemetry
from topology.graph.types import GraphOptions
from topology.graph.wire import graph_to_wire

BOUNDS = ["0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000",
          "30000", "60000", "300000", "600000", "1800000", "3600000", "+Inf"]
CODES = (("200", 0.90), ("404", 0.04), ("503", 0.04), ("0", 0.02))
QUERY_TIME = 1_795_310_940
# Issue 11, item 4: 300 ms at 10k edges and 1.5 s at 50k (the 2k figure is ours).
TARGETS_MS = {2_000: 150.0, 10_000: 300.0, 50_000: 1500.0}
TARGET_MIB_PER_10K = 3.0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _edge_labels(reporter: str, src: int, dst: int, namespaces: int, protocol: str) -> dict[str, str]:
    """``meshui_edge`` and ``reporter``, as the reader's compact queries return them."""
    src_ns, dst_ns = f"ns-{src % namespaces}", f"ns-{dst % namespaces}"
    identity = {
        "source_cluster": "Kubernetes",
        "source_workload_namespace": src_ns,
        "source_workload": f"svc-{src}-v1",
        "source_canonical_service": f"svc-{src}",
        "source_canonical_revision": "v1",
        "destination_cluster": "Kubernetes",
        "destination_service_namespace": dst_ns,
        "destination_service": f"svc-{dst}.{dst_ns}.svc.cluster.local",
        "destination_service_name": f"svc-{dst}",
        "destination_workload_namespace": dst_ns,
        "destination_workload": f"svc-{dst}-v1",
        "destination_canonical_service": f"svc-{dst}",
        "destination_canonical_revision": "v1",
        "request_protocol": protocol,
    }
    return {EDGE_LABEL: EDGE_SEPARATOR.join(identity[name] for name in IDENTITY_LABELS), "reporter": reporter}


def synthetic_bodies(services: int, seed: int = 7) -> dict[str, bytes]:
    """One ``/api/v1/query`` body per telemetry list, for a mesh of ``services`` services, as the
    deduped compact queries return it."""
    rng = random.Random(seed)
    namespaces = max(1, services // 20)
    results: dict[str, list[dict[str, Any]]] = {
        "requests": [], "duration_buckets": [], "duration_sum": [], "tcp_sent": [], "tcp_received": [],
    }

    def add(kind: str, labels: dict[str, str], value: float) -> None:
        results[kind].append({"metric": labels, "value": [QUERY_TIME, repr(value)]})

    for src in range(services):
        for dst in rng.sample(range(services), 10):
            rate = rng.uniform(0.1, 50.0)
            tcp = rng.random() < 0.1
            if tcp:
                base = _edge_labels("destination", src, dst, namespaces, "tcp")
                tcp_labels = {**base, "response_flags": "-", "connection_security_policy": "mutual_tls"}
                add("tcp_sent", tcp_labels, rate * 900)
                add("tcp_received", tcp_labels, rate * 300)
                continue
            base = _edge_labels("destination", src, dst, namespaces, "http")
            for code, share in CODES:
                add("requests", {**base, "response_code": code, "grpc_response_status": "",
                                 "response_flags": "-", "connection_security_policy": "mutual_tls"},
                    rate * share)
            if rng.random() < 0.05:  # a failure only the client proxy saw (the or's right side)
                add("requests", {**_edge_labels("source", src, dst, namespaces, "http"), "response_code": "503",
                                 "grpc_response_status": "", "response_flags": "UF",
                                 "connection_security_policy": "unknown"}, rate * 0.01)
            cumulative = 0.0
            for bound in BOUNDS:
                cumulative = min(rate, cumulative + rate * rng.uniform(0.0, 0.3))
                add("duration_buckets", {**base, "le": bound}, rate if bound == "+Inf" else cumulative)
            add("duration_sum", base, rate * 120.0)
    return {
        # Compact, like Prometheus' own encoder.
        kind: json.dumps(
            {"status": "success", "data": {"resultType": "vector", "result": result}}, separators=(",", ":")
        ).encode()
        for kind, result in results.items()
    }


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best wall time and best CPU time of this process in ms over ``repeat`` runs (GC collected
    before each), and the last result.

    The best, not the median: on a shared machine the other processes only ever add time. The
    CPU time is printed beside the wall time because on a busy machine (the 2-core VM is shared
    by several engineers) the wall time also counts the time spent waiting for a core."""
    times = []
    cpu_times = []
    result = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        cpu_start = time.process_time()
        result = fn()
        cpu_times.append((time.process_time() - cpu_start) * 1000.0)
        times.append((time.perf_counter() - start) * 1000.0)
    return min(times), min(cpu_times), result


def _graph_memory(telemetry: MeshTelemetry) -> tuple[int, int]:
    """(peak bytes allocated while building, bytes still held by the finished MeshGraph)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    graph = build_graph(telemetry, GraphOptions())
    peak = tracemalloc.get_traced_memory()[1]
    # A full collection also empties CPython's free lists (tuples, floats, dicts kept for
    # reuse): memory the build freed, not memory the graph holds.
    gc.collect()
    current = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del graph
    return peak - base, current - base


def run(services: int, repeat: int) -> None:
    """Generate, time and print one mesh size."""
    bodies = synthetic_bodies(services)
    body_bytes = sum(len(body) for body in bodies.values())

    def parse() -> MeshTelemetry:
        return MeshTelemetry(QUERY_TIME, 300, **{kind: parse_vector(body) for kind, body in bodies.items()})

    # The parser keeps the identities of the edges it has seen (the next read of a mesh finds
    # them); the first read of a mesh splits every edge string once more.
    _EDGE_CACHE.clear()
    cold_ms, _, _ = _timed(parse, 1)
    parse_ms, parse_cpu, telemetry = _timed(parse, repeat)
    samples = sum(len(getattr(telemetry, kind)) for kind in bodies)
    build_ms, build_cpu, graph = _timed(lambda: build_graph(telemetry, GraphOptions()), repeat)
    rules = default_health_rules()
    health_ms, health_cpu, assessed = _timed(lambda: assess(graph, rules), repeat)

    def to_json() -> bytes:
        document = graph_to_wire(assessed, query_time=QUERY_TIME, window_s=300, warnings=[])
        return orjson.dumps(document)

    json_ms, json_cpu, payload = _timed(to_json, repeat)
    edges = len(graph.edges)
    peak, held = _graph_memory(telemetry)
    total = parse_ms + build_ms + health_ms + json_ms
    total_cpu = parse_cpu + build_cpu + health_cpu + json_cpu
    target = next((ms for count, ms in sorted(TARGETS_MS.items()) if edges <= count * 1.1), None)
    target_text = f"(target ≤ {target:.0f} ms)" if target else "(no target at this size)"
    per_10k = 10_000 / edges / (1 << 20)
    print(f"\n{services} services: {edges} edges, {len(graph.nodes)} nodes, {samples} samples "
          f"({body_bytes / (1 << 20):.1f} MiB of Prometheus JSON)")
    print(f"  parse            {parse_ms:9.1f} ms   cpu {parse_cpu:7.1f} ms   (first read: {cold_ms:.1f} ms)")
    print(f"  build            {build_ms:9.1f} ms   cpu {build_cpu:7.1f} ms")
    print(f"  health           {health_ms:9.1f} ms   cpu {health_cpu:7.1f} ms")
    print(f"  wire JSON        {json_ms:9.1f} ms   cpu {json_cpu:7.1f} ms")
    print(f"  total            {total:9.1f} ms   cpu {total_cpu:7.1f} ms   {target_text}")
    print(f"  JSON             {len(payload) / edges:9.0f} bytes/edge ({len(payload) / (1 << 20):.2f} MiB)")
    print(f"  MeshGraph held   {held * per_10k:9.2f} MiB per 10k edges (target ≤ {TARGET_MIB_PER_10K:g} MiB)")
    print(f"  build peak       {peak * per_10k:9.2f} MiB per 10k edges (tracemalloc peak during build)")


def main() -> None:
    """Parse the flags and run each mesh size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the 200-service mesh")
    parser.add_argument("--services", type=int, nargs="+", help="mesh sizes to run (default: 200 1000 5000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (the best is printed)")
    args = parser.parse_args()
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()} "
          f"({platform.python_implementation()}), {platform.system()} {platform.release()}")
    sizes = args.services or ((200,) if args.quick else (200, 1_000, 5_000))
    for services in sizes:
        run(services, max(1, args.repeat // 2) if services >= 5_000 else args.repeat)


if __name__ == "__main__":
    main()
