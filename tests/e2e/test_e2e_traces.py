"""Traces in Debian's Chromium against the real server in demo mode (the demo's own traces).

From the graph: select an edge, open its "Traces" section (fetched only then), see the
scatter, open a trace, see its waterfall, tags and services, and follow "Show on graph".
Screenshots go to ``test-results/e2e/`` (traces-*.png).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import MeshuiServer, screenshot, start_meshui_server

pytestmark = pytest.mark.e2e
pytest_plugins = ["tests.e2e.graph_fixtures"]

VIEW = "graph_type=app&namespaces=bookinfo,istio-system&window=10m&refresh=off"


def api(server: MeshuiServer, path: str) -> dict:
    with urllib.request.urlopen(f"{server.url}{path}", timeout=30) as response:
        return json.loads(response.read())


def node_id(graph: dict, name: str, namespace: str) -> str:
    return next(n["id"] for n in graph["nodes"] if n["name"] == name and n["namespace"] == namespace)


def is_traces_api(url: str) -> bool:
    path = urlsplit(url).path
    return path.startswith("/api/") and "/traces" in path


def open_graph(page: Page, server: MeshuiServer) -> None:
    response = page.goto(f"{server.url}/?{VIEW}")
    assert response is not None
    assert response.status == 200
    page.wait_for_function("() => window.meshuiGraph && window.meshuiGraph.layoutDone")
    page.evaluate("window.meshuiGraph.layoutDone")


@pytest.fixture
def unconfigured_server(tmp_path: Path) -> Iterator[MeshuiServer]:
    """A server with a (refused) Prometheus and no Jaeger: traces are not configured."""
    server = start_meshui_server(
        tmp_path,
        MESHUI_ANONYMOUS_READ="true",
        MESHUI_PROMETHEUS_URL="http://127.0.0.1:9",
        MESHUI_PROMETHEUS_TIMEOUT_S="1",
    )
    try:
        yield server
    finally:
        server.stop()


def test_an_edges_traces_open_a_waterfall(demo_server, page: Page):
    # given the app graph of Bookinfo and its productpage → reviews edge
    graph = api(demo_server, "/api/v1/graph?graph_type=app&namespaces=bookinfo,istio-system&window=10m")
    source, target = node_id(graph, "productpage", "bookinfo"), node_id(graph, "reviews", "bookinfo")
    edge = next(e for e in graph["edges"] if e["source"] == source and e["target"] == target)
    trace_requests: list[str] = []
    page.on("request", lambda r: trace_requests.append(r.url) if is_traces_api(r.url) else None)
    open_graph(page, demo_server)
    # when the edge is selected
    page.evaluate(f"window.meshuiGraph.cy.getElementById({edge['id']!r}).emit('tap')")
    section = page.get_by_test_id("panel-traces")
    expect(section).to_be_visible()
    # when its traces section is opened
    section.locator("summary").click()
    marks = section.get_by_test_id("trace-mark")
    expect(marks.first).to_be_attached()
    # then one request — none before the section opened — read the edge's traces over the graph's window
    assert len(trace_requests) == 1
    query = parse_qs(urlsplit(trace_requests[0]).query)
    assert urlsplit(trace_requests[0]).path == "/api/v1/edges/traces"
    assert query["source"] == ["bookinfo/productpage"]
    assert query["target"] == ["bookinfo/reviews"]
    assert query["window"] == ["10m"]
    assert query["limit"] == ["20"]
    # and the scatter has one mark per trace, errors drawn as crosses
    listed = api(demo_server, f"{urlsplit(trace_requests[0]).path}?{urlsplit(trace_requests[0]).query}")["traces"]
    assert marks.count() == len(listed)
    assert section.locator("path.mark-error").count() == sum(t["has_error"] for t in listed)
    assert section.locator("circle.mark-ok").count() == sum(not t["has_error"] for t in listed)
    panel = page.get_by_test_id("side-panel")
    section.scroll_into_view_if_needed()
    whole_page = screenshot(page, "traces-graph-page")
    panel.screenshot(path=str(whole_page.with_name("traces-edge-panel.png")))

    # when the slowest trace is opened
    link = section.get_by_test_id("trace-link").first
    trace_id = link.get_attribute("data-trace-id")
    link.click()
    page.wait_for_url(f"**/traces/{trace_id}?window=10m")
    page.wait_for_function("() => window.meshuiTrace")
    assert page.evaluate("window.meshuiTrace.ready") == "trace"
    # then the waterfall has a row per span, nested, with error markers where spans failed
    trace = api(demo_server, f"/api/v1/traces/{trace_id}")
    rows = page.get_by_test_id("span-row")
    expect(rows).to_have_count(len(trace["spans"]))
    assert page.locator(".wf-row[data-error='true'] .wf-error-mark").count() == sum(
        s["has_error"] for s in trace["spans"]
    )
    levels = [int(v) for v in rows.evaluate_all("rows => rows.map(r => r.getAttribute('aria-level'))")]
    assert levels[0] == 1
    assert max(levels) >= 4  # gateway → productpage (client, server) → reviews (client, server)
    # and the services of the trace are drawn with their calls
    services = {s["service"] for s in trace["spans"]}
    expect(page.get_by_test_id("trace-service")).to_have_count(len(services))
    expect(page.get_by_test_id("trace-edge")).to_have_count(len(trace["edges"]))
    # when a span is clicked, then its tags show
    rows.nth(1).locator(".wf-label").click()
    expect(page.get_by_test_id("span-tags")).to_contain_text("istio.canonical_service")
    screenshot(page, "traces-waterfall")

    # when "Show on graph" is followed, then the trace's apps are found on the graph
    page.get_by_test_id("show-on-graph").click()
    page.wait_for_function("() => window.meshuiGraph && window.meshuiGraph.layoutDone")
    page.evaluate("window.meshuiGraph.layoutDone")
    found = page.evaluate("window.meshuiGraph.cy.nodes('.found').map(n => n.data('name') ?? n.id())")
    assert len(found) >= 3
    assert parse_qs(urlsplit(page.url).query)["graph_type"] == ["app"]
    screenshot(page, "traces-show-on-graph")


def test_an_unknown_trace_says_so(demo_server, page: Page):
    page.goto(f"{demo_server.url}/traces/{'ab' * 16}")
    page.wait_for_function("() => window.meshuiTrace")
    assert page.evaluate("window.meshuiTrace.ready") == "error"
    expect(page.get_by_test_id("trace-error")).to_contain_text("No such trace")


def test_without_jaeger_the_trace_page_says_how_to_configure_it(unconfigured_server, page: Page):
    page.goto(f"{unconfigured_server.url}/traces/abcdef")
    page.wait_for_function("() => window.meshuiTrace")
    assert page.evaluate("window.meshuiTrace.ready") == "error"
    error = page.get_by_test_id("trace-error")
    expect(error).to_contain_text("Tracing is not configured")
    expect(error).to_contain_text("MESHUI_JAEGER_URL")
    screenshot(page, "traces-not-configured")


def reviews_revisions_called_by_productpage(trace: dict) -> set[str]:
    """The revision of each reviews span (of the API's trace) whose parent is a productpage span."""
    by_id = {s["span_id"]: s for s in trace["spans"]}
    return {
        s["tags"]["istio.canonical_revision"]
        for s in trace["spans"]
        if s["service"] == "reviews.bookinfo"
        and by_id.get(s["parent_span_id"], {}).get("service") == "productpage.bookinfo"
    }


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_a_workload_edges_traces_are_that_edges(demo_server, page: Page, color_scheme: str):
    # given the workload graph of Bookinfo at 1024 x 700, and its productpage-v1 → reviews-v2 edge
    page.set_viewport_size({"width": 1024, "height": 700})
    page.emulate_media(color_scheme=color_scheme)
    view = "graph_type=workload&namespaces=bookinfo,istio-system&window=10m&refresh=off"
    graph = api(demo_server, "/api/v1/graph?graph_type=workload&namespaces=bookinfo,istio-system&window=10m")
    source, target = node_id(graph, "productpage-v1", "bookinfo"), node_id(graph, "reviews-v2", "bookinfo")
    edge = next(e for e in graph["edges"] if e["source"] == source and e["target"] == target)
    trace_requests: list[str] = []
    page.on("request", lambda r: trace_requests.append(r.url) if is_traces_api(r.url) else None)
    page.goto(f"{demo_server.url}/?{view}")
    page.wait_for_function("() => window.meshuiGraph && window.meshuiGraph.layoutDone")
    page.evaluate("window.meshuiGraph.layoutDone")
    # when the edge is selected and its traces section opened
    page.evaluate(f"window.meshuiGraph.cy.getElementById({edge['id']!r}).emit('tap')")
    section = page.get_by_test_id("panel-traces")
    section.locator("summary").click()
    expect(section.get_by_test_id("trace-mark").first).to_be_attached()
    # then the search named both workloads, and the panel says what was matched
    query = parse_qs(urlsplit(trace_requests[0]).query)
    assert query["source_workload"] == ["productpage-v1"]
    assert query["target_workload"] == ["reviews-v2"]
    expect(section.get_by_test_id("panel-traces-matched")).to_have_text(
        "Calls from workload productpage-v1 to workload reviews-v2"
    )
    # and every listed trace has productpage calling reviews on reviews-v2
    listed = api(demo_server, f"/api/v1/edges/traces?{urlsplit(trace_requests[0]).query}")["traces"]
    assert listed
    for summary in listed:
        trace = api(demo_server, f"/api/v1/traces/{summary['trace_id']}")
        assert "v2" in reviews_revisions_called_by_productpage(trace)
    section.scroll_into_view_if_needed()
    screenshot(page, f"traces-workload-edge-1024-{color_scheme}")
