"""meshui's graph read beside Kiali's query set, on the same real Prometheus scraping a large mesh.

Run: ``.venv/bin/python bench/prometheus_scale.py`` (about 6 minutes; ``--services 5000 --edges
10000`` for a larger mesh, ``--pods``, ``--repeat``). Needs Debian's ``prometheus``.

It starts, on 127.0.0.1 only: the synthetic Istio exporter (``bench/synthetic_istio.py``: 1,000
services in 40 namespaces, 2,000 workload edges, both reporters, 2 pods per workload, Istio's 20
duration buckets), Debian's Prometheus scraping it every 15 s (its own config and data dir), and
meshui under daphne pointed at that Prometheus. After the window has filled it measures, for
each selection (no filter, 1, 10 and 40 namespaces):

* meshui: ``GET /api/v1/graph?graph_type=workload&window=60s`` end to end (median of
  ``--repeat``, each with its own explicit ``query_time`` so nothing is cached), the queries it
  cost Prometheus and the CPU seconds Prometheus spent on them (its process' own counters);
* Kiali: its graph query set for the same namespaces (no filter = all 40), sent one after another
  as Kiali sends them — per namespace the three ``istio_requests_total`` and three
  ``istio_tcp_sent_bytes_total`` queries of ``shared/fixtures/kiali/graph/prom_inputs.json`` and the
  two p95 ``histogram_quantile`` queries of Kiali's response-time appender — with their wall time
  and Prometheus CPU.

Two phases: *raw* (no rules loaded), then *with meshui's rules* (``metrics.rules`` loaded into that
Prometheus, meshui detecting them by itself), where it also prints the rules' own cost
(``prometheus_rule_group_last_duration_seconds``, per minute) beside the Prometheus CPU a
minute of live reads saves. It prints; it never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import synthetic_istio  # noqa: E402

from metrics.rules import WINDOWS, render_rules  # noqa: E402
from tests.support.fixtures import SHARED_FIXTURES  # noqa: E402
from tests.support.meshui_servers import meshui_servers  # noqa: E402
from tests.support.prometheus import PROMETHEUS, free_port  # noqa: E402

WINDOW_S = 60
KIALI_IDENTITY = (
    "source_cluster,source_workload_namespace,source_workload,source_canonical_service,source_canonical_revision,"
    "destination_cluster,destination_service_namespace,destination_service,destination_service_name,"
    "destination_workload_namespace,destination_workload,destination_canonical_service,"
    "destination_canonical_revision,request_protocol"
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def kiali_queries(namespaces: list[str], window_s: int) -> list[str]:
    """Kiali's graph queries for ``namespaces``, in the order it sends them."""
    inputs = json.loads((SHARED_FIXTURES / "kiali" / "graph" / "prom_inputs.json").read_text())
    scenario = next(s for s in inputs["scenarios"] if s["name"] == "namespace_graph")
    templates = [
        q["query"] for q in scenario["queries"]
        if "istio_requests_total" in q["query"] or "istio_tcp_sent_bytes_total" in q["query"]
    ]  # fmt: skip
    out = []
    for namespace in namespaces:
        out += [t.replace("bookinfo", namespace).replace("[600s]", f"[{window_s}s]") for t in templates]
        for side in ('reporter=~"destination|waypoint",destination_service_namespace', 'reporter=~"source|waypoint",source_workload_namespace'):  # noqa: E501
            out.append(
                f"histogram_quantile(0.95, sum(rate(istio_request_duration_milliseconds_bucket"
                f'{{{side}="{namespace}"}}[{window_s}s])) by (le,{KIALI_IDENTITY})) > 0'
            )
    return out


class Prometheus:
    """Debian's Prometheus on a free loopback port with its own config and data dir."""

    def __init__(self, workdir: Path, scrape: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.rules_dir = workdir / "rules"
        self.rules_dir.mkdir()
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 15s\n  evaluation_interval: 30s\n"
            f"rule_files: ['{self.rules_dir}/*.yaml']\nscrape_configs:\n{scrape}"
        )
        self.log = (workdir / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             "--storage.tsdb.retention.time=1d", f"--web.listen-address=127.0.0.1:{self.port}",
             "--web.enable-lifecycle"], stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.session = requests.Session()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.session.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("Prometheus did not get ready")

    def query(self, promql: str, at: float) -> tuple[float, int, int]:
        """(seconds, response bytes, series) of one instant query."""
        started = time.perf_counter()
        answer = self.session.post(f"{self.url}/api/v1/query", data={"query": promql, "time": f"{at:.3f}"}, timeout=120)
        elapsed = time.perf_counter() - started
        body = answer.json()
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus refused a query: {body}")
        return elapsed, len(answer.content), len(body["data"]["result"])

    def queries_served(self) -> float:
        text = self.session.get(f"{self.url}/metrics", timeout=10).text
        match = re.search(r'^prometheus_engine_query_duration_seconds_count\{slice="inner_eval"\} (\S+)$', text, re.M)
        return float(match.group(1)) if match else 0.0

    def rule_cost_per_minute(self) -> list[tuple[str, float, float]]:
        """(group, seconds per evaluation, CPU-ish seconds per minute) of every rule group."""
        text = self.session.get(f"{self.url}/metrics", timeout=10).text
        group = r'\{rule_group="[^"]*;([^"]+)"\} (\S+)$'
        durations = dict(re.findall(r"^prometheus_rule_group_last_duration_seconds" + group, text, re.M))
        intervals = dict(re.findall(r"^prometheus_rule_group_interval_seconds" + group, text, re.M))
        return [(g, float(d), float(d) * 60.0 / float(intervals.get(g, "60"))) for g, d in sorted(durations.items())]

    def reload(self) -> None:
        self.session.post(f"{self.url}/-/reload", timeout=30).raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()


def measured(fn: Callable[[], object], pid: int, repeat: int) -> tuple[float, float]:
    """(median wall seconds, median Prometheus CPU seconds) of ``repeat`` calls of ``fn``."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - started)
        cpus.append(cpu_seconds(pid) - cpu_before)
    return statistics.median(walls), statistics.median(cpus)


def meshui_graph(base: str, token: str, namespaces: list[str] | None, query_time: float) -> dict:
    query = f"graph_type=workload&window={WINDOW_S}s&query_time={query_time:.0f}"
    if namespaces:
        query += "&namespaces=" + ",".join(namespaces)
    answer = requests.get(f"{base}/api/v1/graph?{query}", headers={"Authorization": f"Bearer {token}"}, timeout=120)
    answer.raise_for_status()
    return answer.json()


def run_phase(name: str, prometheus: Prometheus, server: str, token: str, all_ns: list[str], repeat: int) -> dict:
    """Measure every selection once for this phase; print one table."""
    from metrics.client import PrometheusClient
    from metrics.reader import PrometheusTelemetrySource, RecordedSeriesProbe

    reader_client = PrometheusClient(prometheus.url, timeout_s=120)
    reader = PrometheusTelemetrySource(reader_client, probe=RecordedSeriesProbe(reader_client))
    selections = {"no filter": None, "1 namespace": all_ns[:1], "10 namespaces": all_ns[:10], "40 namespaces": all_ns}
    print(f"\n== phase: {name}")
    print(f"{'selection':15s} {'meshui API':>11s} {'prom CPU':>9s} {'queries':>8s} {'Kiali':>9s} {'prom CPU':>9s} "
          f"{'queries':>8s} {'speed-up':>9s} {'edges':>6s} {'B/edge':>7s} {'mode':>10s}")  # fmt: skip
    results = {}
    for label, namespaces in selections.items():
        clock = [time.time() - 20]

        def one_graph(namespaces: list[str] | None = namespaces, clock: list[float] = clock) -> dict:
            clock[0] -= 1  # a fresh explicit query_time each call: never a cached answer
            return meshui_graph(server, token, namespaces, clock[0])

        # Warm: connections, and the rules check (a check that expired a moment ago is redone in
        # the background while the read uses the old answer, so the second read has the new one).
        one_graph()
        time.sleep(1)
        document = one_graph()
        before = prometheus.queries_served()
        meshui_wall, meshui_cpu = measured(one_graph, prometheus.process.pid, repeat)
        meshui_queries = (prometheus.queries_served() - before) / repeat
        kiali_set = kiali_queries(namespaces or all_ns, WINDOW_S)
        at = time.time() - 20

        def kiali(kiali_set: list[str] = kiali_set, at: float = at) -> None:
            for promql in kiali_set:
                prometheus.query(promql, at)

        kiali_wall, kiali_cpu = measured(kiali, prometheus.process.pid, repeat)
        check = reader.probe.lookup(WINDOW_S, at)
        selected = reader.selection_read(frozenset(namespaces) if namespaces else None, check)
        plan = reader.plan(window_s=WINDOW_S, namespaces=selected, recorded=check.fields)
        plan_bytes = sum(prometheus.query(q.promql, at)[1] for q in plan)
        edges = max(1, len(document["edges"]))
        results[label] = (meshui_wall, kiali_wall)
        print(f"{label:15s} {meshui_wall * 1000:9.0f}ms {meshui_cpu:8.2f}s {meshui_queries:8.1f} "
              f"{kiali_wall * 1000:7.0f}ms {kiali_cpu:8.2f}s {len(kiali_set):8d} {kiali_wall / meshui_wall:8.2f}x "
              f"{edges:6d} {plan_bytes / edges:7.0f} {document['read_mode']['mode']:>10s}"
              f"{' (whole mesh read)' if namespaces and selected is None else ''}", flush=True)  # fmt: skip
    return results


def main() -> None:
    """Parse the flags, run both phases, stop everything started."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--edges", type=int, default=2000)
    parser.add_argument("--pods", type=int, default=2)
    parser.add_argument("--namespaces", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fill-s", type=int, default=90, help="seconds of scraping before measuring")
    args = parser.parse_args()
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    version = subprocess.run([PROMETHEUS, "--version"], capture_output=True, text=True, check=False)
    print(f"prometheus: {(version.stdout or version.stderr).splitlines()[0]}")
    mesh = synthetic_istio.SyntheticMesh(args.services, args.edges, args.pods, args.namespaces)
    exporter = synthetic_istio.serve(mesh)
    print(f"mesh: {args.services} services, {len(mesh.traffic)} workload edges, {args.pods} pods per workload, "
          f"{exporter.series_count} raw series in {len(mesh.shards())} scrape targets")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="meshui-prom-scale-") as tmp:
        workdir = Path(tmp)
        (workdir / "prometheus").mkdir()
        prometheus = Prometheus(workdir / "prometheus", synthetic_istio.scrape_config(exporter.port, mesh))
        try:
            print(f"scraping for {args.fill_s} s ...", flush=True)
            time.sleep(args.fill_s)
            with meshui_servers(workdir / "meshui", 1, username="bench", MESHUI_PROMETHEUS_URL=prometheus.url,
                                MESHUI_PROMETHEUS_TIMEOUT_S="120", MESHUI_PROMETHEUS_RULES_RECHECK_S="120",
                                MESHUI_GRAPH_CACHE_TTL_S="0") as servers:  # fmt: skip
                server, token = servers.urls[0], servers.token
                raw = run_phase("raw series (no rules loaded)", prometheus, server, token, mesh.shards(), args.repeat)
                (prometheus.rules_dir / "meshui.yaml").write_text(render_rules())
                prometheus.reload()
                wait = 2 * max(w.interval_s for w in WINDOWS) + 10
                print(f"\nloaded meshui's rules; waiting {wait} s for two evaluations ...", flush=True)
                time.sleep(wait)
                recorded = run_phase("with meshui's recording rules", prometheus, server, token, mesh.shards(),
                                     args.repeat)  # fmt: skip
                print("\nrule groups: seconds per evaluation, seconds per minute")
                total = 0.0
                for group, seconds, per_minute in prometheus.rule_cost_per_minute():
                    total += per_minute
                    print(f"  {group:24s} {seconds:6.2f} s  {per_minute:6.2f} s/min")
                print(f"  all rules cost Prometheus about {total:.1f} s of evaluation per minute")
                print("\nmeshui with rules vs Kiali's query set: "
                      + ", ".join(f"{k} {v[1] / recorded[k][0]:.1f}x" for k, v in raw.items()))  # fmt: skip
                print("meshui raw vs Kiali's query set:       "
                      + ", ".join(f"{k} {v[1] / v[0]:.1f}x" for k, v in raw.items()))  # fmt: skip
        finally:
            prometheus.stop()
            exporter.stop()


if __name__ == "__main__":
    main()
