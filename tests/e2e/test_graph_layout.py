"""The graph's layout as drawn in Debian's Chromium: boxes, labels and edges keep clear of each other.

The demo mesh (``demo_server``, tests/e2e/graph_fixtures.py) at the two sizes an operator uses
(a wall screen, a laptop), light and dark. What the page draws is measured in the page
(tests/e2e/graph_geometry.py) and the screenshots go to ``test-results/e2e/``.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.e2e.graph_geometry import measure
from tests.e2e.graph_pages import api_graph, open_graph

pytestmark = pytest.mark.e2e
# demo_server, open_page
pytest_plugins = ["tests.e2e.graph_fixtures"]

SIZES_AND_SCHEMES = [(1600, "light"), (1024, "dark")]


@pytest.mark.parametrize(("width", "scheme"), SIZES_AND_SCHEMES)
def test_app_boxes_never_overlap_and_labels_never_collide(demo_server, open_page, width, scheme):
    # given the demo's versioned app graph, whose app boxes hold one or more versions
    page = open_page(width, scheme)
    # when it is opened
    open_graph(page, demo_server, "graph_type=versioned_app")
    drawn = measure(page)
    screenshot(page, f"graph-layout-versioned-app-{scheme}-{width}")
    # then no box overlaps another box or a node outside it, and no label lies on another node
    assert drawn["groups"] > 0
    assert drawn["boxOverlaps"] == []
    assert drawn["labelCollisions"] == []


def test_the_summary_counts_nodes_and_boxes_apart(demo_server, open_page):
    # given the API's versioned app graph: version nodes and the app boxes that hold them
    graph = api_graph(demo_server, "graph_type=versioned_app")
    boxes = sum(1 for node in graph["nodes"] if node.get("is_group"))
    assert boxes > 0
    page = open_page(1600, "light")
    # when the page shows it
    open_graph(page, demo_server, "graph_type=versioned_app")
    # then the summary counts the nodes without the boxes, and the boxes apart
    expect(page.get_by_test_id("graph-summary")).to_have_text(
        re.compile(rf"^{len(graph['nodes']) - boxes} nodes · {len(graph['edges'])} edges · {boxes} app boxes · ")
    )


@pytest.mark.parametrize(("width", "scheme"), SIZES_AND_SCHEMES)
def test_edges_go_around_the_nodes_in_their_way(demo_server, open_page, width, scheme):
    # given the demo's workload graph, where frontend-v1 calls cart-v1 one layer past checkout-v1
    page = open_page(width, scheme)
    # when it is opened
    open_graph(page, demo_server, "graph_type=workload")
    drawn = measure(page)
    screenshot(page, f"graph-layout-workload-{scheme}-{width}")
    # then no edge is drawn across a node (or its label) that is neither of its ends
    assert drawn["edgesThroughNodes"] == []
    # and no edge label lies on a node, a node's label or another edge's label
    assert drawn["edgeLabelCollisions"] == []


@pytest.mark.parametrize("graph_type", ["service", "workload", "versioned_app"])
@pytest.mark.parametrize(("width", "scheme"), SIZES_AND_SCHEMES)
def test_every_edge_label_is_drawn_or_counted(demo_server, open_page, graph_type, width, scheme):
    # given a demo graph with its request-rate labels
    page = open_page(width, scheme)
    # when it is opened
    open_graph(page, demo_server, f"graph_type={graph_type}")
    drawn = measure(page)
    screenshot(page, f"graph-layout-labels-{graph_type}-{scheme}-{width}")
    # then every drawn edge label stands clear of the others, of nodes and node labels
    assert drawn["labelledEdges"] > 0
    assert drawn["edgeLabelCollisions"] == []
    # and labels too small to draw at this zoom are counted where the operator reads the graph
    if drawn["undrawnEdgeLabels"]:
        expect(page.get_by_test_id("graph-summary")).to_contain_text(
            f"{drawn['undrawnEdgeLabels']} edge labels too small to draw: zoom in"
        )
    else:
        expect(page.get_by_test_id("graph-summary")).not_to_contain_text("too small to draw")


def test_edge_labels_too_small_to_draw_are_counted_and_come_back_on_zoom(demo_server, open_page):
    # given the demo's service graph with its request-rate labels, all drawn
    page = open_page(1600, "light")
    open_graph(page, demo_server, "graph_type=service")
    assert measure(page)["undrawnEdgeLabels"] == 0
    # when it is zoomed out until Cytoscape stops drawing edge labels
    page.evaluate("window.meshuiGraph.cy.zoom({level: 0.3, renderedPosition: {x: 400, y: 300}})")
    drawn = measure(page)
    assert drawn["undrawnEdgeLabels"] == drawn["labelledEdges"] > 0
    # then the summary says how many, and what to do
    summary = page.get_by_test_id("graph-summary")
    expect(summary).to_contain_text(f"{drawn['undrawnEdgeLabels']} edge labels too small to draw: zoom in")
    screenshot(page, "graph-layout-labels-counted")
    # and when zoomed back in, the count goes
    page.evaluate("window.meshuiGraph.cy.zoom({level: 1.2, renderedPosition: {x: 400, y: 300}})")
    expect(summary).not_to_contain_text("too small to draw")
