"""The graph's traffic animation and the idle toggle, in Debian's Chromium on the demo mesh.

The animation must not borrow the legend's cues (dashed = degraded, dotted = failing): it draws
moving dots on a canvas of its own, error dots square. Showing idle nodes must not lay the graph
out again: what the operator arranged stays where it is. Screenshots go to ``test-results/e2e/``.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.e2e.graph_pages import api_graph, open_graph

pytestmark = pytest.mark.e2e
# demo_server, open_page
pytest_plugins = ["tests.e2e.graph_fixtures"]

LINE_STYLE_OF_HEALTH = {"healthy": "solid", "degraded": "dashed", "failing": "dotted", "unknown": "solid"}


@pytest.mark.parametrize(("width", "scheme"), [(1600, "light"), (1024, "dark")])
def test_traffic_animation_moves_dots_and_keeps_the_health_line_styles(demo_server, open_page, width, scheme):
    # given the demo's workload graph, some of whose edges fail some requests
    graph = api_graph(demo_server, "graph_type=workload")
    assert any(e["error_rate"] and e["request_rate"] for e in graph["edges"])
    page = open_page(width, scheme)
    # when it is opened with the traffic animation on
    open_graph(page, demo_server, "graph_type=workload&anim=1")
    page.wait_for_timeout(300)
    # then every edge keeps the line style of its health: only degraded edges are dashed
    styles = page.evaluate("window.meshuiGraph.cy.edges().map(e => [e.data('health'), e.style('line-style')])")
    assert styles
    assert [s for s in styles if s[1] != LINE_STYLE_OF_HEALTH[s[0]]] == []
    page.wait_for_function("() => window.meshuiGraph.flow().dots > 0")
    # and dots are drawn on every edge with traffic, the failing share as error dots
    # (a dot passing under an edge label is left out of that frame, so the error dots are awaited)
    page.wait_for_function("() => window.meshuiGraph.flow().errorDots > 0")
    frame = page.evaluate("window.meshuiGraph.flow()")
    moving = sum(1 for e in graph["edges"] if (e["request_rate"] or e.get("tcp_sent_bytes_per_s")))
    assert frame["edges"] == moving
    # and they move: the overlay is not the same picture a moment later
    overlay = page.get_by_test_id("flow-overlay")
    first = overlay.evaluate("c => c.toDataURL()")
    page.wait_for_timeout(300)
    assert overlay.evaluate("c => c.toDataURL()") != first
    screenshot(page, f"graph-traffic-animation-{scheme}-{width}")
    # when the animation is turned off, the dots go with it
    page.get_by_test_id("toggle-anim").evaluate("box => box.closest('details').open = true")
    page.get_by_test_id("toggle-anim").uncheck()
    expect(page.get_by_test_id("flow-overlay")).to_have_count(0)


def test_showing_idle_nodes_keeps_every_placed_node_where_it_is(demo_server, open_page):
    # given the demo's workload graph, where the operator moved a node aside
    page = open_page(1600, "light")
    open_graph(page, demo_server, "graph_type=workload")
    page.wait_for_function("() => window.meshuiGraph.model.viewKey !== null")
    page.evaluate("(() => { const n = window.meshuiGraph.cy.nodes()[0]; n.shift({x: 45, y: 35}); })()")
    before = page.evaluate(
        "Object.fromEntries(window.meshuiGraph.cy.nodes().map(n => [n.id(), [n.position('x'), n.position('y')]]))"
    )
    zoom = page.evaluate("window.meshuiGraph.cy.zoom()")
    view_key = page.evaluate("window.meshuiGraph.model.viewKey")
    # when idle nodes and edges are shown
    page.get_by_test_id("toggle-idle").evaluate("box => box.closest('details').open = true")
    page.get_by_test_id("toggle-idle").check()
    page.wait_for_function("key => window.meshuiGraph.model.viewKey !== key", arg=view_key)
    page.wait_for_timeout(500)
    # then every node that was placed is where it was, and the viewport did not move
    after = page.evaluate(
        "Object.fromEntries(window.meshuiGraph.cy.nodes().map(n => [n.id(), [n.position('x'), n.position('y')]]))"
    )
    moved = {
        node: (before[node], after.get(node))
        for node in before
        if node in after and max(abs(a - b) for a, b in zip(before[node], after[node], strict=True)) > 0.5
    }
    assert moved == {}
    assert page.evaluate("window.meshuiGraph.cy.zoom()") == pytest.approx(zoom)
