"""Graph page rendering in headless Chromium with a 2,000-node / 10,000-edge synthetic graph.

Usage: ``.venv/bin/python bench/browser_render.py [--nodes 2000] [--edges 10000] [--changed 0.1]``

Serves, from a small HTTP server on 127.0.0.1: the real page template rendered by Django with
the synthetic graph in its ``json_script`` (``graph-initial``), the repository's static files
(``make install-js`` must have filled ``static/vendor/``), and the same graph on
``/api/v1/graph``. There is no websocket endpoint, so the page's client falls back to polling;
the page is opened with ``refresh=off`` so nothing competes with the measurements.

Prints (never asserts), against the targets of the graph-page issue:

* time to first interactive frame: navigation start → the second animation frame after the
  first graph is on the canvas (target ≤ 1.5 s); also when the off-thread force layout landed;
* frame times while dragging the canvas for ~2 s (target ≥ 30 fps);
* bytes per edge of the full snapshot frame and per changed edge of a delta frame, both as
  the server writes them (``topology.snapshot.dumps`` / ``topology.graph.diff.diff_graphs``),
  raw and gzip-compressed (targets ≤ 70 B/edge full, ≤ 40 B per changed edge).
"""

from __future__ import annotations

import argparse
import gzip
import json
import mimetypes
import os
import random
import statistics
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HEALTH = ["healthy"] * 8 + ["degraded", "failing"]
SCREENSHOT = REPO / "test-results" / "bench" / "browser_render.png"


def synthetic_graph(nodes: int, edges: int, seed: int = 7) -> dict[str, Any]:
    """A GET /api/v1/graph body with ``nodes`` workloads in 40 namespaces and ``edges`` HTTP/gRPC/TCP edges."""
    rng = random.Random(seed)
    node_list = []
    for i in range(nodes):
        ns = f"team-{i % 40:02d}"
        app = f"svc-{i:04d}"
        node_list.append(
            {
                "id": f"{rng.getrandbits(64):016x}",
                "kind": "workload",
                "namespace": ns,
                "name": f"{app}-v1",
                "workload": f"{app}-v1",
                "app": app,
                "version": "v1",
                "service": app,
                "cluster": "Kubernetes",
                "is_gateway": i == 0,
                "parent": None,
                "health": rng.choice(HEALTH),
            }
        )
    edge_list = []
    seen: set[tuple[int, int]] = set()
    while len(edge_list) < edges:
        # Mostly local calls (neighbouring services), some across the mesh: a plausible shape.
        s = rng.randrange(nodes)
        t = (s + rng.randint(1, 25)) % nodes if rng.random() < 0.8 else rng.randrange(nodes)
        if s == t or (s, t) in seen:
            continue
        seen.add((s, t))
        protocol = rng.choices(["http", "grpc", "tcp"], [0.75, 0.2, 0.05])[0]
        edge_list.append(_edge(rng, f"{rng.getrandbits(64):016x}", node_list[s]["id"], node_list[t]["id"], protocol))
    return {
        "graph_type": "workload",
        "window_s": 300,
        "query_time": 1795310940,
        "namespaces": sorted({n["namespace"] for n in node_list}),
        "nodes": node_list,
        "edges": edge_list,
        "warnings": [],
    }


def _edge(rng: random.Random, edge_id: str, source: str, target: str, protocol: str) -> dict[str, Any]:
    if protocol == "tcp":
        return {
            "id": edge_id,
            "source": source,
            "target": target,
            "protocol": "tcp",
            "request_rate": 0.0,
            "error_rate": 0.0,
            "client_error_rate": 0.0,
            "responses": {},
            "flags": {"-": 0.0},
            "latency_ms": None,
            "tcp_sent_bytes_per_s": round(rng.uniform(100, 90000), 1),
            "tcp_received_bytes_per_s": round(rng.uniform(100, 9000), 1),
            "mtls_ratio": 1.0,
            "health": "healthy",
        }
    rate = round(rng.lognormvariate(0, 1.2), 3)
    errors = round(rate * rng.choice([0, 0, 0, 0.01, 0.2]), 3)
    p50 = round(rng.uniform(2, 80), 1)
    return {
        "id": edge_id,
        "source": source,
        "target": target,
        "protocol": protocol,
        "request_rate": rate,
        "error_rate": round(errors / rate, 4) if rate else 0.0,
        "client_error_rate": 0.0,
        "responses": {"200": round(rate - errors, 3), **({"503": errors} if errors else {})},
        "flags": {"-": rate},
        "latency_ms": {"p50": p50, "p95": round(p50 * 3.1, 1), "p99": round(p50 * 5.2, 1), "avg": round(p50 * 1.4, 1)},
        "tcp_sent_bytes_per_s": None,
        "tcp_received_bytes_per_s": None,
        "mtls_ratio": 1.0,
        "health": "degraded" if errors / max(rate, 1e-9) > 0.1 else "healthy",
    }


def next_tick(graph: dict[str, Any], share: float, seed: int = 11) -> tuple[dict[str, Any], int]:
    """The graph a refresh later: ``share`` of the edges got new figures. Returns it and that count."""
    rng = random.Random(seed)
    edges = []
    changed = 0
    for edge in graph["edges"]:
        if edge["protocol"] != "tcp" and rng.random() < share:
            edge = _edge(rng, edge["id"], edge["source"], edge["target"], edge["protocol"])
            changed += 1
        edges.append(edge)
    return {**graph, "query_time": graph["query_time"] + 15, "edges": edges}, changed


def render_page(graph: dict[str, Any]) -> bytes:
    """The real template of ``/`` with ``graph`` as its initial data."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meshui.settings")
    os.environ.setdefault("MESHUI_DATA_DIR", tempfile.mkdtemp(prefix="meshui-bench-"))
    os.environ["MESHUI_ANONYMOUS_READ"] = "true"
    import django

    django.setup()
    from django.contrib.auth.models import AnonymousUser
    from django.shortcuts import render
    from django.test import RequestFactory
    from django.urls import reverse

    from topology.views import GRAPH_WS_PATH

    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    context = {
        "initial": {"graph": graph, "error": None},
        "state": "graph",
        "api_graph_url": reverse("api-graph"),
        "api_namespaces_url": reverse("api-namespaces"),
        "ws_url": GRAPH_WS_PATH,
    }
    return render(request, "topology/graph.html", context).content


def serve(page: bytes, graph_json: bytes, namespaces_json: bytes) -> ThreadingHTTPServer:
    static_root = (REPO / "static").resolve()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(200, "text/html; charset=utf-8", page)
            elif path == "/api/v1/graph":
                self._send(200, "application/json", graph_json)
            elif path == "/api/v1/namespaces":
                self._send(200, "application/json", namespaces_json)
            elif path.startswith("/static/"):
                file = (static_root / path[len("/static/") :]).resolve()
                if file.is_relative_to(static_root) and file.is_file():
                    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                    self._send(200, kind, file.read_bytes())
                else:
                    self._send(404, "text/plain", b"not found")
            else:
                self._send(404, "text/plain", b"not found")

        def do_OPTIONS(self) -> None:
            self._send(200, "text/plain", b"")

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


PAN_PROBE = """async () => {
  const frames = [];
  let last = performance.now();
  let running = true;
  const tick = (now) => { frames.push(now - last); last = now; if (running) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  window.__stopProbe = () => { running = false; return frames.slice(2); };
}"""


def measure(url: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            outside: list[str] = []
            page.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if "//127.0.0.1:" in route.request.url
                    else (outside.append(route.request.url), route.abort())
                ),
            )
            page.goto(url)
            first_frame_ms = page.evaluate("window.meshuiGraph.ready")
            page.evaluate("window.meshuiGraph.layoutDone")
            layout_ms = page.evaluate("performance.now()")
            renderer = page.evaluate("window.meshuiGraph.renderer")
            drawn = page.evaluate("[window.meshuiGraph.cy.nodes().length, window.meshuiGraph.cy.edges().length]")
            box = page.get_by_test_id("graph-canvas").bounding_box()
            page.evaluate(PAN_PROBE)
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            for step in range(120):
                dx = 300 * ((step % 60) / 60 - 0.5)
                page.mouse.move(x + dx, y + dx / 2)
                page.wait_for_timeout(16)
            page.mouse.up()
            frames = page.evaluate("window.__stopProbe()")
            page.evaluate("window.meshuiGraph.cy.fit()")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()
    return {
        "first_frame_ms": first_frame_ms,
        "layout_ms": layout_ms,
        "renderer": renderer,
        "drawn": drawn,
        "frames": frames,
        "outside": outside,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--edges", type=int, default=10000)
    parser.add_argument("--changed", type=float, default=0.1, help="share of edges changed in the delta")
    parser.add_argument("--renderer", choices=["auto", "canvas", "webgl"], default="auto")
    args = parser.parse_args()
    if not (REPO / "static" / "vendor" / "cytoscape.min.js").is_file():
        sys.exit("static/vendor is empty: run `make install-js` (npm ci + scripts/vendor.sh) first")

    graph = synthetic_graph(args.nodes, args.edges)
    page = render_page(graph)
    from topology.graph.diff import diff_graphs
    from topology.snapshot import dumps

    snapshot = dumps({"type": "snapshot", "view_key": "0123456789abcdef", "seq": 1, "refresh_s": 15, "graph": graph})
    later, changed = next_tick(graph, args.changed)
    delta = dumps({"type": "delta", "view_key": "0123456789abcdef", "seq": 2, **diff_graphs(graph, later)})
    namespaces = {
        "window_s": 300,
        "query_time": graph["query_time"],
        "warnings": [],
        "namespaces": [{"name": ns, "health": "healthy", "counts": {}} for ns in graph["namespaces"]],
    }
    server = serve(page, json.dumps(graph).encode(), json.dumps(namespaces).encode())
    try:
        result = measure(f"http://127.0.0.1:{server.server_address[1]}/?refresh=off&renderer={args.renderer}")
    finally:
        server.shutdown()

    frames = result["frames"]
    snap_b, delta_b = snapshot.encode(), delta.encode()
    print(
        f"graph: {args.nodes} nodes, {args.edges} edges; drawn {result['drawn'][0]} nodes, "
        f"{result['drawn'][1]} edges; renderer {result['renderer']} (headless Chromium, --disable-gpu)"
    )
    print(f"time to first interactive frame: {result['first_frame_ms'] / 1000:.2f} s (target <= 1.5 s)")
    print(f"force layout (worker) applied at: {result['layout_ms'] / 1000:.2f} s after navigation start")
    if frames:
        mean = statistics.fmean(frames)
        p95 = sorted(frames)[int(0.95 * (len(frames) - 1))]
        print(
            f"panning: {len(frames)} frames, mean {mean:.1f} ms ({1000 / mean:.0f} fps), median "
            f"{statistics.median(frames):.1f} ms, p95 {p95:.1f} ms, worst {max(frames):.1f} ms (target >= 30 fps)"
        )
    print(
        f"full snapshot: {len(snap_b):,} B = {len(snap_b) / args.edges:.0f} B/edge raw, "
        f"{len(gzip.compress(snap_b)) / args.edges:.0f} B/edge gzip (target <= 70 B/edge)"
    )
    per_changed = len(delta_b) / max(changed, 1)
    print(
        f"delta ({changed} edges changed): {len(delta_b):,} B = {per_changed:.0f} B/changed edge raw, "
        f"{len(gzip.compress(delta_b)) / max(changed, 1):.0f} B/changed edge gzip (target <= 40 B)"
    )
    print(f"requests outside 127.0.0.1: {len(result['outside'])}; screenshot: {SCREENSHOT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
