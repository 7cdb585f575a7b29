"""Benchmark of the traffic API end to end: reads, writes, dry runs and contended writes, per backend.

Run: ``.venv/bin/python bench/traffic_writes.py`` (``--backends local,gitops,kubernetes,postgres``,
``--writes N``, ``--kube-cache-ttl S``: the kubernetes backend's read cache, default meshui's).

For each backend it starts meshui's real ASGI application in daphne on a free 127.0.0.1 port
(production settings, a temporary data directory, the embedded demo mesh as telemetry) and
talks HTTP to it with a bearer token, as a script would:

* ``local`` — resources in SQLite (the embedded default);
* ``postgres`` — ``local`` on a throwaway PostgreSQL database at 127.0.0.1:5432 (skipped when
  PostgreSQL is not reachable);
* ``gitops`` — a git repository in a temporary directory: every write edits a YAML file in place,
  fsyncs, renames and commits;
* ``kubernetes`` — the loopback API server of the tests (``tests/support/fake_kube_apiserver.py``,
  real REST paths, resourceVersion, dryRun) through the official client.

Measured: ``GET …/traffic`` (the state, with validations against the CRD schemas), a weight shift
``PATCH`` with ``If-Match`` (validate → ordered writes → audit row), the same ``?dry_run=true``
(diff, nothing written), ``GET /api/v1/istio-config`` and a contended round: ``--writers``
concurrent PATCHes carrying one If-Match (how long until all are answered, and how many won).
Latencies are wall-clock per request, sequential, after a warm-up. It prints figures and the
machine; it never asserts. Bounded: a fixed number of requests, every request has a timeout,
every subprocess is stopped by PID.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.fake_kube_apiserver import FakeKubeApiServer, kubeconfig
from tests.support.gitrepo import new_repository
from tests.support.meshui_servers import api_request, meshui_servers, temporary_postgres_database

SERVICE_URL = "/api/v1/namespaces/bookinfo/services/reviews/traffic"
SHIFTS = ({"v1": 90, "v2": 10}, {"v1": 80, "v2": 20})
# The loopback API server of the kubernetes run, whose request log says how many LISTs reads cost.
API_SERVERS: list = []


def machine() -> str:
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    system = f"{platform.system()} {platform.machine()}"
    return f"{system}, {os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def _timed(call: Callable[[], object], count: int) -> list[float]:
    """Milliseconds of ``count`` sequential calls (after two warm-up calls)."""
    for _ in range(2):
        call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def _summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):7.1f} ms  p95 {p95:7.1f} ms  (n={len(ordered)})"


@contextlib.contextmanager
def _store(backend: str, workdir: Path) -> Iterator[dict[str, str] | None]:
    """The settings selecting ``backend`` (and whatever it needs running), or None to skip it."""
    sqlite = {"DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}"}
    if backend == "local":
        yield {**sqlite, "MESHUI_MESH_BACKEND": "local"}
    elif backend == "postgres":
        with contextlib.ExitStack() as stack:
            try:
                url = stack.enter_context(temporary_postgres_database("meshui_bench"))
            except Exception as error:  # psycopg's, or its absence: say why and go on with the others
                print(f"  postgres skipped: {error}")
                yield None
                return
            yield {"DATABASE_URL": url, "MESHUI_MESH_BACKEND": "local"}
    elif backend == "gitops":
        repo = new_repository(workdir / "routing", {"README.md": "routing\n"})
        yield {**sqlite, "MESHUI_MESH_BACKEND": "gitops", "MESHUI_GITOPS_DIR": str(repo)}
    else:
        server = FakeKubeApiServer()
        API_SERVERS.append(server)
        try:
            path = kubeconfig(server.url, workdir / "kubeconfig")
            yield {**sqlite, "MESHUI_MESH_BACKEND": "kubernetes", "MESHUI_KUBECONFIG": str(path),
                   "MESHUI_KUBE_CONTEXT": "fake"}  # fmt: skip
        finally:
            API_SERVERS.remove(server)
            server.stop()


def bench_backend(backend: str, writes: int, writers: int, kube_cache_ttl: float | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="meshui-bench-") as directory, _store(backend, Path(directory)) as store:
        if store is None:
            return
        if kube_cache_ttl is not None:
            store["MESHUI_KUBE_CACHE_TTL_S"] = f"{kube_cache_ttl:g}"
        with meshui_servers(Path(directory), 1, username="bench", **store) as servers:
            base, token = servers.urls[0], servers.token
            url = base + SERVICE_URL
            status, state = api_request("PATCH", url, token, {"weights": {"v1": 100}})
            if status != 200:
                raise RuntimeError(f"{backend}: first write answered {status}: {state}")
            shown = backend == "kubernetes" and kube_cache_ttl is not None
            cache = f" (read cache TTL {kube_cache_ttl:g} s)" if shown else ""
            print(f"{backend}{cache}:")
            logged = len(API_SERVERS[0].requests) if API_SERVERS else 0
            print(f"  GET traffic state          {_summary(_timed(lambda: api_request('GET', url, token), writes))}")
            if API_SERVERS:
                lists = sum(1 for method, *_ in API_SERVERS[0].requests[logged:] if method == "GET")
                print(f"    API server reads for those {writes + 2} GETs: {lists}")
            version = [state["version"]]

            def shift() -> None:
                body = {"weights": SHIFTS[len(version) % 2]}
                answered, new = api_request("PATCH", url, token, body, **{"If-Match": f'"{version[-1]}"'})
                if answered != 200:
                    raise RuntimeError(f"{backend}: PATCH answered {answered}: {new}")
                version.append(new["version"])

            print(f"  PATCH weights (If-Match)   {_summary(_timed(shift, writes))}")
            dry = url + "?dry_run=true"
            dry_runs = _timed(lambda: api_request("PATCH", dry, token, {"weights": {"v2": 100}}), writes)
            print(f"  PATCH ?dry_run=true        {_summary(dry_runs)}")
            config = base + "/api/v1/istio-config?namespace=bookinfo"
            print(f"  GET istio-config           {_summary(_timed(lambda: api_request('GET', config, token), writes))}")
            current = api_request("GET", url, token)[1]["version"]
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=writers) as pool:
                statuses = list(pool.map(
                    # v3 shares: no contender repeats the current weights (a no-op would be a 200 too)
                    lambda i: api_request("PATCH", url, token, {"weights": {"v1": 100 - i, "v3": i}},
                                       **{"If-Match": f'"{current}"'})[0],
                    range(1, writers + 1),
                ))  # fmt: skip
            elapsed = (time.perf_counter() - started) * 1000.0
            counts = {code: statuses.count(code) for code in sorted(set(statuses))}
            print(f"  {writers} writers, one If-Match: all answered in {elapsed:7.1f} ms; statuses {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backends", default="local,postgres,gitops,kubernetes")
    parser.add_argument("--writes", type=int, default=40, help="sequential requests per measurement (max 500)")
    parser.add_argument("--writers", type=int, default=30, help="concurrent writers in the contended round (max 50)")
    parser.add_argument("--kube-cache-ttl", type=float, default=None, help="MESHUI_KUBE_CACHE_TTL_S (0: no cache)")
    args = parser.parse_args()
    writes, writers = max(5, min(args.writes, 500)), max(2, min(args.writers, 50))
    print(f"machine: {machine()}")
    print("daphne, one process, demo mesh telemetry, bearer token, sequential requests after 2 warm-ups")
    for backend in args.backends.split(","):
        bench_backend(backend.strip(), writes, writers, args.kube_cache_ttl)


if __name__ == "__main__":
    main()
