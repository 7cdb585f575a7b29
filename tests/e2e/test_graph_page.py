"""The graph page ``/`` in Debian's Chromium against the real server.

Two servers (tests/e2e/graph_fixtures.py): meshui reading a real Prometheus that serves the
known mesh of ``tests.support.mesh_truth`` (opened at the data's end with ``query_time``), and
meshui in demo mode (no Prometheus: the built-in demo mesh, live over the websocket). Every
page may only reach 127.0.0.1 (the ``page`` fixture aborts anything else and fails the test).
Screenshots go to ``test-results/e2e/``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import REPO, MeshuiServer, _wait_ready, screenshot, start_meshui_server
from tests.e2e.graph_pages import open_graph
from tests.support import mesh_truth

pytestmark = pytest.mark.e2e
# graph_prometheus, graph_server, demo_server
pytest_plugins = ["tests.e2e.graph_fixtures"]

HISTORICAL = f"query_time={mesh_truth.DATA_END}"
# Generous bounds for live updates: the demo server ticks every LIVE_REFRESH_S seconds.
LIVE_REFRESH_S = 2
LIVE_WAIT_MS = 30_000


def api_graph(server: MeshuiServer, query: str) -> dict:
    """``GET /api/v1/graph?<query>`` of ``server`` (anonymous read), parsed."""
    with urllib.request.urlopen(f"{server.url}/api/v1/graph?{query}", timeout=30) as response:
        return json.loads(response.read())


def node_named(graph: dict, name: str) -> dict:
    return next(node for node in graph["nodes"] if node["name"] == name)


def edge_between(graph: dict, source: str, target: str) -> dict:
    source_id, target_id = node_named(graph, source)["id"], node_named(graph, target)["id"]
    return next(edge for edge in graph["edges"] if edge["source"] == source_id and edge["target"] == target_id)


def click_edge(page: Page, edge_id: str) -> None:
    """Click the middle of an edge where the canvas draws it."""
    point = page.evaluate(f"window.meshuiGraph.cy.getElementById({edge_id!r}).renderedMidpoint()")
    box = page.get_by_test_id("graph-canvas").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])


@pytest.fixture
def live_demo(tmp_path: Path) -> Iterator[MeshuiServer]:
    """A demo-mode server of its own (the reconnect test restarts it), ticking every 2 s."""
    server = start_meshui_server(tmp_path, MESHUI_ANONYMOUS_READ="true", MESHUI_REFRESH_S=str(LIVE_REFRESH_S))
    try:
        yield server
    finally:
        server.stop()


def test_page_shows_the_graph_without_login_in_demo_mode(graph_server, page: Page):
    # given the API's answer for the default view at the data's end
    expected = api_graph(graph_server, HISTORICAL)
    # when an anonymous visitor opens / for the same time
    open_graph(page, graph_server, HISTORICAL)
    # then the page is the graph, not the login page, and counts what the API counts
    expect(page).to_have_url(f"{graph_server.url}/?{HISTORICAL}")
    expect(page.get_by_test_id("graph-summary")).to_have_text(
        re.compile(rf"^{len(expected['nodes'])} nodes · {len(expected['edges'])} edges · at 2023-11-14T22:15:00Z")
    )
    expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-state", "historical")
    assert page.evaluate("window.meshuiGraph.cy.nodes().length") == len(expected["nodes"])
    screenshot(page, "graph-prometheus-historical")


def test_clicking_an_edge_opens_its_panel(graph_server, page: Page):
    # given the graph at the data's end and its frontend-v1 → cart-v2 edge (1/s 200, 0.25/s 503)
    edge = edge_between(api_graph(graph_server, HISTORICAL), "frontend-v1", "cart-v2")
    open_graph(page, graph_server, HISTORICAL)
    # when the edge is clicked
    click_edge(page, edge["id"])
    # then its panel names both ends and breaks its responses down by code
    panel = page.get_by_test_id("side-panel")
    expect(panel).to_be_visible()
    expect(page.get_by_test_id("panel-title")).to_have_text("frontend-v1 → cart-v2")
    expect(page.get_by_test_id("panel-responses")).to_contain_text("503")
    expect(page.get_by_test_id("panel-responses").locator("tr", has_text="503")).to_contain_text("20%")
    # and it links to the pages of both ends
    source = page.get_by_test_id("panel-links-source")
    expect(source.locator('a[href="/namespaces/shop/workloads/frontend-v1"]')).to_have_count(1)
    expect(page.get_by_test_id("panel-links-target").locator('a[href="/namespaces/shop/workloads/cart-v2"]')).to_have_count(1)
    # and its sparklines cover the selected window (5m) up to the view's time, from the range API:
    # cart-v2's inbound requests from frontend-v1, as many points as that API answers
    expect(panel.get_by_test_id("spark-rate").locator("canvas")).to_have_count(1)
    expect(panel.get_by_test_id("spark-spans")).to_have_text("Requests from frontend-v1 to cart-v2")
    series_url = (f"{graph_server.url}/api/v1/namespaces/shop/workloads/cart-v2/metrics?direction=inbound&window=5m"
                  f"&step=15s&rate_interval=1m&by=source_workload&{HISTORICAL}")  # fmt: skip
    with urllib.request.urlopen(series_url, timeout=30) as response:
        series = json.loads(response.read())["series"]
    rates = next(e for e in series["request_rate"] if e["labels"] == {"source_workload": "frontend-v1"})["points"]
    expect(panel.get_by_test_id("spark-window")).to_have_text(f"Last 5m ({len(rates)} points, every 15 s)")
    assert len(rates) > 2
    latest = f"{rates[-1][1]:.2f}".rstrip("0").rstrip(".")
    expect(panel.get_by_test_id("spark-rate")).to_contain_text(f"latest {latest}/s")
    screenshot(page, "graph-edge-panel")


def test_find_highlights_and_hide_removes(graph_server, page: Page):
    # given the graph at the data's end: one gRPC edge, three nodes in namespace pay
    expected = api_graph(graph_server, HISTORICAL)
    grpc_edges = [e for e in expected["edges"] if e["protocol"] == "grpc"]
    pay_nodes = [n for n in expected["nodes"] if n["namespace"] == "pay"]
    open_graph(page, graph_server, HISTORICAL)
    # when gRPC is found and namespace pay hidden
    page.get_by_test_id("find-input").fill("protocol = grpc")
    page.get_by_test_id("hide-input").fill("ns = pay")
    # then the summary counts both, the pay nodes are gone and the view is in the URL
    expect(page.get_by_test_id("graph-summary")).to_contain_text(
        f"{len(grpc_edges)} found · {len(pay_nodes)} nodes hidden"
    )
    assert page.evaluate("window.meshuiGraph.cy.nodes(':visible').length") == len(expected["nodes"]) - len(pay_nodes)
    assert page.evaluate("window.meshuiGraph.cy.elements('.found').map(e => e.id())") == [e["id"] for e in grpc_edges]
    query = parse_qs(urlsplit(page.url).query)
    assert query["find"] == ["protocol = grpc"]
    assert query["hide"] == ["ns = pay"]
    screenshot(page, "graph-find-hide")


def test_bad_find_expression_shows_a_helpful_error(graph_server, page: Page):
    # given the graph
    open_graph(page, graph_server, HISTORICAL)
    # when a misspelt field is typed
    page.get_by_test_id("find-input").fill("rtt > 500")
    # then the error names it and suggests the right one; nothing is highlighted
    expect(page.get_by_test_id("filter-error")).to_have_text("Find: unknown field 'rtt' — did you mean 'rt'?")
    expect(page.get_by_test_id("find-input")).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("window.meshuiGraph.cy.elements('.found, .dim').length") == 0
    screenshot(page, "graph-find-error")


def test_view_from_the_toolbar_is_bookmarkable(graph_server, page: Page):
    # given the graph at the data's end
    expected = api_graph(graph_server, f"{HISTORICAL}&graph_type=app")
    open_graph(page, graph_server, HISTORICAL)
    # when the app graph is chosen and the URL is opened again
    page.get_by_test_id("graph-type").select_option("app")
    expect(page).to_have_url(re.compile(r"graph_type=app"))
    page.reload()
    # then the reopened page shows the app graph with the API's node count
    expect(page.get_by_test_id("graph-type")).to_have_value("app")
    expect(page.get_by_test_id("graph-summary")).to_have_text(
        re.compile(rf"^{len(expected['nodes'])} nodes · {len(expected['edges'])} edges")
    )


def test_bad_view_in_the_url_names_the_parameter(graph_server, page: Page):
    # when the page is opened with a window the API refuses
    response = page.goto(f"{graph_server.url}/?window=2y")
    # then it answers 400 with the designed state naming the field
    assert response is not None
    assert response.status == 400
    expect(page.get_by_test_id("state-invalid-parameter")).to_be_visible()
    expect(page.get_by_test_id("state-invalid-parameter")).to_contain_text("window")
    screenshot(page, "graph-invalid-view")


def test_demo_graph_updates_from_deltas_without_a_reload(live_demo, page: Page):
    # given the demo graph, live over the websocket
    open_graph(page, live_demo)
    expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("demo-mesh")).to_have_text("Demo mesh")
    page.evaluate("window.__sameDocument = true")
    first_seq = page.evaluate("window.meshuiGraph.model.seq")
    labels = page.evaluate("Object.fromEntries(window.meshuiGraph.cy.edges().map(e => [e.id(), e.data('label')]))")
    # when the server sends deltas, then a later seq is applied and edge labels change in place
    page.wait_for_function(f"() => window.meshuiGraph.model.seq > {first_seq}", timeout=LIVE_WAIT_MS)
    page.wait_for_function(
        "labels => window.meshuiGraph.cy.edges().some(e => e.id() in labels && e.data('label') !== labels[e.id()])",
        arg=labels,
        timeout=LIVE_WAIT_MS,
    )
    assert page.evaluate("window.__sameDocument") is True
    # and a node's panel draws its sparklines over the selected window
    node_id = page.evaluate("window.meshuiGraph.cy.nodes()[0].id()")
    page.evaluate(f"window.meshuiGraph.cy.getElementById({node_id!r}).emit('tap')")
    # (a range read of the whole demo mesh: the first one in a fresh process takes a few seconds)
    expect(page.get_by_test_id("spark-rate").locator("canvas")).to_have_count(1, timeout=15_000)
    expect(page.get_by_test_id("spark-rate")).to_contain_text("latest")
    screenshot(page, "graph-demo-live")


def test_websocket_reconnects_after_a_server_restart(live_demo, page: Page, tmp_path: Path):
    # given the demo graph, live
    open_graph(page, live_demo)
    expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-state", "live")
    page.evaluate("window.__sameDocument = true")
    # when the server stops, the page says it is reconnecting
    live_demo.stop()
    expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-state", re.compile("reconnecting|connecting"))
    screenshot(page, "graph-reconnecting")
    # and when it is back on the same port, the page resubscribes and is live again
    port = str(urlsplit(live_demo.url).port)
    log_path = tmp_path / "daphne-again.log"
    with log_path.open("w") as log:
        live_demo.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", port, "meshui.asgi:application"],
            cwd=REPO,
            env=live_demo.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    _wait_ready(live_demo)
    expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-state", "live", timeout=LIVE_WAIT_MS)
    page.wait_for_function("() => window.meshuiGraph.model.viewKey !== null", timeout=LIVE_WAIT_MS)
    assert page.evaluate("window.__sameDocument") is True


def test_refused_websocket_falls_back_to_polling(live_demo, page: Page):
    # given a browser whose websockets never open (as behind a proxy that drops upgrades)
    page.add_init_script(
        "window.WebSocket = class { constructor() { this.readyState = 3;"
        " setTimeout(() => this.onclose && this.onclose({code: 1006, reason: ''}), 10); }"
        " send() {} close() {} }; window.WebSocket.OPEN = 1;"
    )
    polled: list[str] = []
    page.on("request", lambda request: polled.append(request.url) if "/api/v1/graph?" in request.url else None)
    # when the page is opened
    open_graph(page, live_demo, "refresh=5s")
    # then it polls the graph API and shows the graph live
    expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-state", "live", timeout=LIVE_WAIT_MS)
    assert polled != []
    assert all(urlsplit(url).hostname == "127.0.0.1" for url in polled)
    expect(page.get_by_test_id("graph-summary")).to_have_text(re.compile(r"^\d+ nodes · \d+ edges · updated"))


def test_no_request_leaves_the_machine(demo_server, page: Page):
    # given every request the page makes, websockets included
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.on("websocket", lambda ws: seen.append(ws.url))
    # when the page loads, opens the legend and a node panel
    open_graph(page, demo_server)
    page.get_by_test_id("legend").locator("summary").click()
    node_id = page.evaluate("window.meshuiGraph.cy.nodes()[0].id()")
    page.evaluate(f"window.meshuiGraph.cy.getElementById({node_id!r}).emit('tap')")
    expect(page.get_by_test_id("side-panel")).to_be_visible()
    # then every URL it asked for is on 127.0.0.1 (scripts, styles, API, websocket)
    assert any(url.startswith("ws://127.0.0.1:") for url in seen)
    assert any("/static/vendor/cytoscape.min.js" in url for url in seen)
    assert [url for url in seen if urlsplit(url).hostname != "127.0.0.1"] == []
    screenshot(page, "graph-demo-legend-panel")


def test_keyboard_shortcuts_find_fit_and_refresh(graph_server, page: Page):
    # given the graph, panned far out of sight
    open_graph(page, graph_server, HISTORICAL)
    page.evaluate("window.meshuiGraph.cy.pan({x: 20000, y: 20000})")
    page.get_by_test_id("graph-canvas").focus()
    # when "/" is pressed, the find box takes the focus
    page.keyboard.press("/")
    expect(page.get_by_test_id("find-input")).to_be_focused()
    page.keyboard.press("Escape")
    # when "f" is pressed, every node is back inside the canvas
    page.keyboard.press("f")
    extent = page.evaluate(
        "(() => { const b = window.meshuiGraph.cy.nodes().renderedBoundingBox();"
        " const cy = window.meshuiGraph.cy; return [b.x1, b.y1, b.x2 - cy.width(), b.y2 - cy.height()]; })()"
    )
    assert all(value <= 0 for value in extent[2:])
    assert all(value >= 0 for value in extent[:2])
    # when "r" is pressed, the graph is read again
    with page.expect_request(re.compile(r"/api/v1/graph\?.*query_time=")):
        page.keyboard.press("r")


def click_node(page: Page, node_id: str) -> None:
    """Click the centre of a node where the canvas draws it."""
    point = page.evaluate(f"window.meshuiGraph.cy.getElementById({node_id!r}).renderedPosition()")
    box = page.get_by_test_id("graph-canvas").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_error_origin_is_marked_found_and_explained(graph_server, browser, scheme):
    # given the known mesh at the data's end, and where the API says errors originate
    expected = api_graph(graph_server, HISTORICAL)
    origins = [n for n in expected["nodes"] if n["error_origin"]]
    assert origins, "the known mesh has failing requests: some node must be where they start"
    context = browser.new_context(color_scheme=scheme, viewport={"width": 1024, "height": 700})
    page = context.new_page()
    try:
        open_graph(page, graph_server, HISTORICAL)
        # then each origin carries the ⚑ ORIGIN badge in its label (not colour alone)
        for node in origins:
            label = page.evaluate(f"window.meshuiGraph.cy.getElementById({node['id']!r}).data('label')")
            assert "⚑ ORIGIN" in label
        # when the operator finds "origin"
        page.get_by_test_id("find-input").fill("origin")
        # then exactly the origins are found
        expect(page.get_by_test_id("graph-summary")).to_contain_text(f"{len(origins)} found")
        found = page.evaluate("window.meshuiGraph.cy.elements('.found').map(e => e.id())")
        assert sorted(found) == sorted(n["id"] for n in origins)
        # when an origin is clicked, its panel says so and shows each direction's health
        origin = origins[0]
        click_node(page, origin["id"])
        expect(page.get_by_test_id("panel-origin")).to_be_visible()
        expect(page.get_by_test_id("panel-inbound-health")).to_have_text(origin["inbound_health"])
        expect(page.get_by_test_id("panel-outbound-health")).to_have_text(origin["outbound_health"])
        expect(page.get_by_test_id("panel-health-reason")).to_contain_text("errors originate here")
        screenshot(page, f"graph-error-origin-{scheme}-1024")
    finally:
        context.close()


def test_a_grpc_edge_panel_breaks_its_statuses_down(graph_server, page: Page):
    # given the known mesh's gRPC edge and its statuses as the API gives them
    edge = next(e for e in api_graph(graph_server, HISTORICAL)["edges"] if e["protocol"] == "grpc")
    assert edge["grpc_responses"], edge
    open_graph(page, graph_server, HISTORICAL)
    # when it is clicked
    click_edge(page, edge["id"])
    # then the panel lists every gRPC status beside the HTTP codes
    table = page.get_by_test_id("panel-grpc")
    expect(table).to_be_visible()
    for status in edge["grpc_responses"]:
        expect(table.locator("tr", has_text=status).first).to_be_visible()
    screenshot(page, "graph-grpc-edge-panel")
