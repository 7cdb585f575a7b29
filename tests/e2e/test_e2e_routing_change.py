"""After Apply on the service page, the graph says what happened (issue 13 §4), in Chromium.

An operator shifts reviews to v1 90 / v3 10 with the service page's Traffic routing editor; the
graph marks every edge into reviews with ↻, and its side panel of such an edge says the routing
changed seconds ago and that its 5m window mixes before and after (read from the audit log
through GET /api/v1/changes), and one click switches the graph to a 1m window. Screenshots
(light, dark, 1024 x 700) in test-results/e2e/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import MeshuiServer, screenshot, session_api, sign_in, start_meshui_server
from tests.e2e.graph_pages import api_get, open_graph

pytestmark = pytest.mark.e2e
TIMEOUT_MS = 20_000
OPERATOR = ("olga", "olga-operator-password-1")
GRAPH = "graph_type=workload&namespaces=bookinfo,istio-system&window=5m&refresh=off"


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshuiServer]:
    server = start_meshui_server(tmp_path_factory.mktemp("routing-change"), MESHUI_ANONYMOUS_READ="true")
    try:
        server.create_user(*OPERATOR, role="operator")
        yield server
    finally:
        server.stop()


def apply_from_the_service_page(page: Page, server: MeshuiServer) -> int:
    """reviews → v1 90 / v3 10 through the service page's editor (review, then apply); the change id."""
    page.goto(f"{server.url}/namespaces/bookinfo/services/reviews#traffic")
    expect(page.get_by_test_id("traffic-tab")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_test_id("weights-on").check()
    page.get_by_test_id("weight-slider-v2").fill("0")
    page.get_by_test_id("weight-lock-v2").check()
    page.get_by_test_id("weight-slider-v1").fill("90")
    expect(page.get_by_test_id("weight-input-v3")).to_have_value("10")
    page.get_by_test_id("traffic-review").click()
    expect(page.get_by_test_id("traffic-diff")).to_contain_text("weight: 90", timeout=TIMEOUT_MS)
    page.get_by_test_id("traffic-apply").click()
    status = page.get_by_test_id("traffic-status")
    expect(status).to_contain_text("Applied (change #", timeout=TIMEOUT_MS)
    return int(re.search(r"change #(\d+)", status.inner_text()).group(1))


def open_edge(page: Page, server: MeshuiServer, source: str, target: str) -> None:
    graph = api_get(server, "/api/v1/graph?graph_type=workload&namespaces=bookinfo,istio-system&window=5m")
    ids = {n["name"]: n["id"] for n in graph["nodes"] if n["namespace"] in ("bookinfo", "istio-system")}
    edge = next(e for e in graph["edges"] if e["source"] == ids[source] and e["target"] == ids[target])
    open_graph(page, server, GRAPH)
    page.evaluate(f"window.meshuiGraph.cy.getElementById({edge['id']!r}).emit('tap')")


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_after_apply_the_graph_says_the_window_mixes_before_and_after(demo_server, page: Page, color_scheme: str):
    page.set_viewport_size({"width": 1024, "height": 700})
    page.emulate_media(color_scheme=color_scheme)
    sign_in(page, demo_server, OPERATOR, "operator")
    # given a routing change of reviews applied from the service page (once for the module)
    status, body = session_api(page, demo_server, "/api/v1/changes?namespace=bookinfo&service=reviews")
    if not body["changes"]:
        change_id = apply_from_the_service_page(page, demo_server)
        status, body = session_api(page, demo_server, "/api/v1/changes?namespace=bookinfo&service=reviews")
    assert status == 200
    change_id = body["changes"][0]["id"]
    assert body["changes"][0]["after"]["weights"] == {"v1": 90, "v3": 10}
    # when the graph's productpage-v1 → reviews-v1 edge is selected
    open_edge(page, demo_server, "productpage-v1", "reviews-v1")
    # then its panel says reviews' routing changed seconds ago, inside the 5m window, and links the change
    note = page.get_by_test_id("panel-routing-note")
    expect(note).to_be_visible(timeout=TIMEOUT_MS)
    expect(note.get_by_test_id("routing-note-text")).to_have_text(
        re.compile(r"^routing changed \d+ s ago — this 5m window mixes before and after$")
    )
    assert note.get_attribute("data-change-id") == str(change_id)
    expect(note.locator(f'a[href$="#change-{change_id}"]')).to_have_count(1)
    # and on the canvas every edge into reviews carries ↻, no other edge does
    page.wait_for_function(
        "() => Number(document.querySelector('[data-routing-changed]')?.dataset.routingChanged) >= 1"
    )
    labels = page.evaluate(
        "() => window.meshuiGraph.cy.edges().map(e => [e.target().data('label').split('\\n')[0], e.data('label')])"
    )
    into_reviews = [label for target, label in labels if re.search(r"\breviews-v\d$", target)]
    others = [label for target, label in labels if not re.search(r"\breviews-v\d$", target)]
    assert into_reviews
    assert others
    assert all("↻" in label for label in into_reviews), labels
    assert not any("↻" in label for label in others), labels
    # and the edge's sparklines mark the change with a line
    expect(page.get_by_test_id("spark-rate")).to_have_attribute("data-routing-mark", str(change_id), timeout=TIMEOUT_MS)
    screenshot(page, f"routing-change-note-1024-{color_scheme}")
    # when "Show the last 1m" is clicked, then the graph reads a 1m window
    note.get_by_test_id("routing-note-narrow").click()
    page.wait_for_function("() => new URL(location.href).searchParams.get('window') === '1m'")
    assert parse_qs(urlsplit(page.url).query)["window"] == ["1m"]
    expect(page.get_by_test_id("window")).to_have_value("1m")
    page.wait_for_timeout(2000)  # the 1m graph drawn, for the screenshot
    screenshot(page, f"routing-change-1m-1024-{color_scheme}")


def test_an_edge_of_a_service_whose_routing_did_not_change_has_no_note(demo_server, page: Page):
    # given (module) reviews' routing changed; details' never did
    open_edge(page, demo_server, "productpage-v1", "details-v1")
    expect(page.get_by_test_id("panel-title")).to_have_text("productpage-v1 → details-v1")
    page.wait_for_timeout(1500)  # the changes read has landed (it is one local request)
    expect(page.get_by_test_id("panel-routing-note")).to_be_hidden()


def test_a_version_routed_to_zero_stays_on_the_graph_as_an_idle_node(demo_server, page: Page):
    # given (module) reviews routed v1 90 / v3 10: v2 gets nothing from the change on
    page.set_viewport_size({"width": 1024, "height": 700})
    changes = api_get(demo_server, "/api/v1/changes?namespace=bookinfo&service=reviews")["changes"]
    assert changes, "the first test of this module applies the change"
    # when the workload graph of a 1m window that starts after the change is opened
    query_time = int(time.time()) + 90
    page.goto(f"{demo_server.url}/?graph_type=workload&namespaces=bookinfo&window=1m&query_time={query_time}")
    page.wait_for_function("() => window.meshuiGraph && window.meshuiGraph.layoutDone")
    page.evaluate("window.meshuiGraph.layoutDone")
    # then reviews-v2 is drawn, idle, without edges, and its panel says why
    node = page.evaluate(
        "() => { const n = window.meshuiGraph.cy.nodes()"
        ".filter(n => n.data('label').split('\\n')[0].endsWith('reviews-v2'))[0];"
        " return n ? {id: n.id(), health: n.data('health'), degree: n.degree()} : null; }"
    )
    assert node is not None
    assert node["health"] == "idle"
    assert node["degree"] == 0
    page.evaluate(f"window.meshuiGraph.cy.getElementById({node['id']!r}).emit('tap')")
    expect(page.get_by_test_id("panel-health-reason")).to_have_text(
        f"no requests in this window since routing change #{changes[0]['id']}"
    )
    screenshot(page, "routing-change-idle-version-1024")
