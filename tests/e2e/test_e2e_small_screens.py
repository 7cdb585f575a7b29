"""A 1024x700 laptop: the nav on one row marking the page it is on, the graph's toolbar in two
rows, and a side panel that leaves most of the graph in view. Debian's Chromium, the demo mesh.
Screenshots go to ``test-results/e2e/``.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import VIEWER, MeshuiServer, screenshot, sign_in
from tests.e2e.graph_pages import open_graph

pytestmark = pytest.mark.e2e
# demo_server, open_page
pytest_plugins = ["tests.e2e.graph_fixtures"]

ADMIN = ("ada", "ada-admin-password-1")

NAV_ROW_JS = """() => {
  const header = document.querySelector('.site-header').getBoundingClientRect();
  const links = [...document.querySelectorAll('.site-nav a')].map((a) => a.getBoundingClientRect());
  const user = document.querySelector('.site-user').getBoundingClientRect();
  return { headerHeight: header.height, tops: [...new Set(links.map((l) => Math.round(l.top)))],
    lastLinkRight: Math.max(...links.map((l) => l.right)), userLeft: user.left, userRight: user.right,
    width: document.documentElement.clientWidth };
}"""

# The rows the toolbar's controls take: the distinct middles of every visible control in its
# flow (one floated out of it over the canvas takes no row).
TOOLBAR_ROWS_JS = """() => {
  const controls = [...document.querySelectorAll('#graph-toolbar .tb-group > *')]
    .filter((el) => el.offsetParent !== null && !el.classList.contains('tb-spacer'))
    .filter((el) => getComputedStyle(el).position !== 'absolute');
  const tops = controls.map((el) => Math.round(el.getBoundingClientRect().top + el.getBoundingClientRect().height / 2));
  const rows = [];
  for (const top of tops.sort((a, b) => a - b)) if (!rows.length || top - rows[rows.length - 1] > 8) rows.push(top);
  return rows.length;
}"""


@pytest.mark.parametrize(
    ("path", "current"),
    [
        ("/", "Graph"),
        ("/overview", "Namespaces"),
        ("/services", "Services"),
        ("/workloads", "Workloads"),
        ("/apps", "Apps"),
        ("/namespaces/shop/workloads/cart-v1", "Workloads"),
        ("/namespaces/bookinfo/services/reviews", "Services"),
    ],
)
def test_the_nav_marks_the_page_it_is_on(demo_server: MeshuiServer, page: Page, path: str, current: str):
    # when a page is opened
    page.goto(f"{demo_server.url}{path}")
    # then exactly its own item of the nav is marked current
    marked = page.locator('.site-nav a[aria-current="page"]')
    expect(marked).to_have_count(1)
    expect(marked).to_have_text(current)


@pytest.mark.parametrize("who", ["anonymous", "viewer", "admin"])
def test_the_nav_stays_on_one_row_at_1024(request, browser, who: str):
    # given a 1024x700 window, the demo badge shown, signed in — or not, with anonymous read on
    meshui_server: MeshuiServer = request.getfixturevalue("demo_server" if who == "anonymous" else "meshui_server")
    if who == "admin" and "ada" not in meshui_server.users:
        meshui_server.create_user(*ADMIN, role="admin")
    context = browser.new_context(viewport={"width": 1024, "height": 700})
    page = context.new_page()
    try:
        if who == "viewer":
            sign_in(page, meshui_server, VIEWER, "viewer")
        elif who == "admin":
            sign_in(page, meshui_server, ADMIN, "admin")
        # when the workloads page is shown
        page.goto(f"{meshui_server.url}/workloads")
        row = page.evaluate(NAV_ROW_JS)
        screenshot(page, f"nav-1024-{who}")
        # then every nav item is on one row of the header, clear of the user's corner, in the window
        assert len(row["tops"]) == 1, row
        assert row["headerHeight"] == 52
        assert row["lastLinkRight"] <= row["userLeft"]
        assert row["userRight"] <= row["width"]
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_graph_toolbar_fits_in_two_rows_at_1024(demo_server: MeshuiServer, open_page, scheme: str):
    # given the versioned app graph, whose summary is the longest (nodes, edges, app boxes)
    page = open_page(1024, scheme)
    # when it is shown at 1024x700
    open_graph(page, demo_server, "graph_type=versioned_app")
    expect(page.get_by_test_id("graph-summary")).to_contain_text("app boxes")
    screenshot(page, f"graph-toolbar-{scheme}-1024")
    # then the toolbar's controls take two rows, and the live state and summary are in view
    assert page.evaluate(TOOLBAR_ROWS_JS) == 2
    expect(page.get_by_test_id("live-indicator")).to_be_in_viewport()
    expect(page.get_by_test_id("graph-summary")).to_be_in_viewport()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_side_panel_leaves_most_of_the_graph_in_view_at_1024(demo_server: MeshuiServer, open_page, scheme: str):
    # given the workload graph at 1024x700
    page = open_page(1024, scheme)
    open_graph(page, demo_server, "graph_type=workload")
    # when a node is opened in the side panel
    node_id = page.evaluate("window.meshuiGraph.cy.nodes()[0].id()")
    page.evaluate(f"window.meshuiGraph.cy.getElementById({node_id!r}).emit('tap')")
    panel = page.get_by_test_id("side-panel")
    expect(panel).to_be_visible()
    screenshot(page, f"graph-panel-{scheme}-1024")
    # then the panel covers less than 30 % of the canvas's width
    panel_box = panel.bounding_box()
    canvas_box = page.get_by_test_id("graph-canvas").bounding_box()
    assert panel_box is not None
    assert canvas_box is not None
    assert panel_box["width"] / canvas_box["width"] < 0.3
