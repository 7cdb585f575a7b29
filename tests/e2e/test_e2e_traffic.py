"""The traffic editor, Changes and Istio config pages in Debian's Chromium, on the demo mesh.

An operator signs in, opens reviews on the graph, sends all traffic to v1 from the side
panel's editor (review → diff → apply), the API state changes, the demo graph's
productpage → reviews-v2/v3 rates fall as the 1m window moves past the change, and the
change is reverted from the Changes page. Screenshots in test-results/e2e/.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import MeshuiServer, screenshot, session_api, sign_in, start_meshui_server

pytestmark = pytest.mark.e2e
TIMEOUT_MS = 20_000
# The rates of a 1m window fall within about a minute of the change (a scrape, a window and
# the graph's refresh): the wait is bounded well above that.
RATE_FALL_TIMEOUT_MS = 150_000
OPERATOR = ("olga", "olga-operator-password-1")
GRAPH = "/?namespaces=bookinfo&graph_type=workload&window=1m&refresh=5s&labels=rate"
TRAFFIC = "/api/v1/namespaces/bookinfo/services/reviews/traffic"

# The productpage → reviews-<version> request rates from the graph page's model.
EDGE_RATES_JS = """() => {
  const m = window.meshuiGraph.model;
  const name = (id) => m.nodes.get(id)?.workload ?? m.nodes.get(id)?.name;
  const out = {};
  for (const e of m.edges.values()) {
    const target = String(name(e.target));
    if (name(e.source) === "productpage-v1" && target.startsWith("reviews-")) out[target] = e.request_rate ?? 0;
  }
  return out;
}"""


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshuiServer]:
    server = start_meshui_server(
        tmp_path_factory.mktemp("traffic-demo"), MESHUI_ANONYMOUS_READ="true", MESHUI_REFRESH_S="2"
    )
    try:
        server.create_user(*OPERATOR, role="operator")
        yield server
    finally:
        server.stop()


def _open_reviews_editor(page: Page, server: MeshuiServer, node: str = "reviews-v1") -> None:
    """Open the graph, click the ``node`` workload and open its Traffic routing section."""
    page.goto(f"{server.url}{GRAPH}")
    page.wait_for_function("() => window.meshuiGraph && window.meshuiGraph.model.nodes.size > 0", timeout=TIMEOUT_MS)
    page.evaluate("() => window.meshuiGraph.layoutDone")
    position = page.evaluate(
        """(name) => {
          const m = window.meshuiGraph.model;
          const node = [...m.nodes.values()].find((n) => n.workload === name && !n.is_group);
          const p = window.meshuiGraph.cy.getElementById(node.id).renderedPosition();
          return { x: p.x, y: p.y };
        }""",
        node,
    )
    box = page.get_by_test_id("graph-canvas").bounding_box()
    page.mouse.click(box["x"] + position["x"], box["y"] + position["y"])
    expect(page.get_by_test_id("panel-title")).to_have_text(node)
    editor = page.get_by_test_id("traffic-editor")
    editor.locator("summary").first.click()
    expect(page.get_by_test_id("weights-on")).to_be_visible(timeout=TIMEOUT_MS)


def test_anonymous_visitors_see_a_read_only_editor(demo_server: MeshuiServer, page: Page) -> None:
    # given an anonymous visitor (anonymous read is on)
    # when they open reviews' routing on the graph
    _open_reviews_editor(page, demo_server)
    # then every control is disabled and the hint says who may change traffic
    expect(page.get_by_test_id("traffic-readonly")).to_contain_text("Sign in as an operator")
    expect(page.get_by_test_id("weights-on")).to_be_disabled()
    expect(page.get_by_test_id("traffic-review")).to_be_disabled()
    expect(page.get_by_test_id("traffic-apply")).to_be_disabled()


def test_shift_weights_graph_follows_and_revert_from_changes(demo_server: MeshuiServer, page: Page) -> None:
    page.set_viewport_size({"width": 1440, "height": 1000})
    sign_in(page, demo_server, OPERATOR, "operator")
    _open_reviews_editor(page, demo_server)
    # given the demo splits reviews evenly: productpage calls v2 and v3
    page.wait_for_function(
        f"() => {{ const r = ({EDGE_RATES_JS})(); return r['reviews-v2'] > 0 && r['reviews-v3'] > 0; }}",
        timeout=TIMEOUT_MS,
    )
    # when the operator turns the split on and slides v1 to 100
    page.get_by_test_id("weights-on").check()
    page.get_by_test_id("weight-slider-v1").fill("100")
    # then the other sliders follow and the total stays 100
    expect(page.get_by_test_id("weight-input-v2")).to_have_value("0")
    expect(page.get_by_test_id("weight-input-v3")).to_have_value("0")
    expect(page.get_by_test_id("weights-total")).to_have_text("Total 100%")
    screenshot(page, "traffic-editor-weights")
    # when the change is reviewed: a dry run shows the diff, and only then Apply is offered
    expect(page.get_by_test_id("traffic-apply")).to_be_disabled()
    page.get_by_test_id("traffic-review").click()
    diff = page.get_by_test_id("traffic-diff")
    expect(diff).to_contain_text("+kind: VirtualService", timeout=TIMEOUT_MS)
    expect(diff).to_contain_text("subset: v1")
    status, state = session_api(page, demo_server, TRAFFIC)
    assert (status, state["weights"]) == (200, {})
    screenshot(page, "traffic-editor-review")
    page.get_by_test_id("traffic-apply").click()
    expect(page.get_by_test_id("traffic-status")).to_contain_text("Applied (change #", timeout=TIMEOUT_MS)
    # then the API state changed
    status, state = session_api(page, demo_server, TRAFFIC)
    assert (status, state["weights"]) == (200, {"v1": 100})
    screenshot(page, "traffic-editor-applied")
    # and the graph's productpage → reviews-v2/v3 rates fall as the window moves past the change
    before = page.evaluate(EDGE_RATES_JS)
    page.wait_for_function(
        f"""(before) => {{
          const r = ({EDGE_RATES_JS})();
          return ["reviews-v2", "reviews-v3"].every((v) => (r[v] ?? 0) < before[v] / 2);
        }}""",
        arg=before,
        timeout=RATE_FALL_TIMEOUT_MS,
        polling=1000,
    )
    after = page.evaluate(EDGE_RATES_JS)
    assert after.get("reviews-v1", 0) > before.get("reviews-v1", 0)
    screenshot(page, "traffic-graph-after-shift")
    # when the change is reverted from the Changes page
    page.goto(f"{demo_server.url}/changes?namespace=bookinfo&service=reviews")
    change = page.get_by_test_id("change").first
    expect(change.get_by_test_id("change-actor")).to_have_text(OPERATOR[0])
    expect(change.get_by_test_id("change-diff")).to_contain_text("subset: v1")
    screenshot(page, "traffic-changes")
    change.get_by_test_id("revert").click()
    # then it first shows what the revert will write (the change turned around) and waits for a confirmation
    preview = change.get_by_test_id("revert-preview")
    expect(preview.locator(".diff-del", has_text="subset: v1").first).to_be_visible()
    expect(preview).to_contain_text("--- now")
    assert session_api(page, demo_server, TRAFFIC)[1]["weights"], "nothing is written before the confirmation"
    screenshot(page, "traffic-changes-revert-preview")
    change.get_by_test_id("revert-confirm").click()
    # then the revert is itself a change, the original shows as reverted and the routing is gone
    newest = page.get_by_test_id("change").first
    expect(newest.get_by_test_id("change-summary")).to_contain_text("revert", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("change").nth(1).get_by_test_id("change-reverted")).to_be_visible()
    status, state = session_api(page, demo_server, TRAFFIC)
    assert (status, state["weights"]) == (200, {})
    screenshot(page, "traffic-changes-reverted")


def test_invalid_value_is_shown_next_to_its_field(demo_server: MeshuiServer, page: Page) -> None:
    sign_in(page, demo_server, OPERATOR, "operator")
    _open_reviews_editor(page, demo_server)
    # given a timeout that is not a duration
    page.get_by_test_id("timeout").fill("soon")
    # when the change is reviewed
    page.get_by_test_id("traffic-review").click()
    # then the API's message sits by the timeout box, which is marked invalid, and nothing is offered to apply
    error = page.get_by_test_id("traffic-field-error")
    expect(error).to_have_attribute("data-field", "timeout", timeout=TIMEOUT_MS)
    expect(error).to_contain_text("is not a duration")
    expect(page.get_by_test_id("timeout")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("traffic-apply")).to_be_disabled()
    screenshot(page, "traffic-editor-invalid")


def test_stale_version_shows_the_new_state(demo_server: MeshuiServer, page: Page) -> None:
    sign_in(page, demo_server, OPERATOR, "operator")
    _open_reviews_editor(page, demo_server)
    # given someone else changes reviews after the editor read it
    status, _ = session_api(page, demo_server, TRAFFIC, "PATCH", {"weights": {"v1": 90, "v3": 10}})
    assert status == 200
    # when the operator reviews their own edit
    page.get_by_test_id("abort-on").check()
    page.get_by_test_id("traffic-review").click()
    # then the editor says so, shows the new routing, and reloading shows it in the form
    stale = page.get_by_test_id("traffic-stale")
    expect(stale).to_contain_text("Someone changed this — reload", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("traffic-stale-state")).to_have_text("v1 90% · v3 10%")
    screenshot(page, "traffic-editor-stale")
    page.get_by_test_id("traffic-reload").click()
    expect(page.get_by_test_id("weight-input-v1")).to_have_value("90")
    expect(page.get_by_test_id("weight-input-v3")).to_have_value("10")
    expect(page.get_by_test_id("abort-on")).not_to_be_checked()


def test_istio_config_lists_resources_with_validations(demo_server: MeshuiServer, page: Page) -> None:
    # given reviews has routing (a previous test or this one writes it)
    sign_in(page, demo_server, OPERATOR, "operator")
    status, _ = session_api(page, demo_server, TRAFFIC, "PATCH", {"weights": {"v1": 50, "v2": 50}, "timeout": "3s"})
    assert status == 200
    # when the Istio config page is opened for bookinfo
    page.goto(f"{demo_server.url}/istio-config?namespace=bookinfo")
    # then the VirtualService and DestinationRule of reviews are listed with their status
    expect(page.locator('[data-testid="config-row"][data-kind="VirtualService"][data-name="reviews"]')).to_have_count(1)
    expect(page.locator('[data-testid="config-row"][data-kind="DestinationRule"][data-name="reviews"]')).to_have_count(1)
    screenshot(page, "traffic-istio-config")


def test_graph_shows_traffic_badges_on_the_reviews_nodes(demo_server: MeshuiServer, page: Page) -> None:
    page.set_viewport_size({"width": 1440, "height": 1000})
    sign_in(page, demo_server, OPERATOR, "operator")
    # given an operator applies a 90/10 split and a fault to reviews through the API (and
    # clears what earlier tests of this module may have left: timeout, retries, breaker)
    status, _ = session_api(page, demo_server, TRAFFIC, "PATCH", {
        "weights": {"v1": 90, "v2": 10}, "fault": {"abort": {"http_status": 503, "percent": 5}, "delay": None},
        "timeout": None, "retries": None, "circuit_breaker": None,
    })  # fmt: skip
    assert status == 200
    # when the graph is opened and the routing has been read
    page.goto(f"{demo_server.url}{GRAPH}")
    page.wait_for_function(
        "() => document.getElementById('graph-page').dataset.routing === 'loaded'", timeout=TIMEOUT_MS
    )
    page.evaluate("() => window.meshuiGraph.layoutDone")
    labels = page.evaluate(
        """() => {
          const m = window.meshuiGraph.model;
          const out = {};
          for (const n of m.nodes.values()) {
            if (!n.is_group) out[n.workload ?? n.name] = window.meshuiGraph.cy.getElementById(n.id).data("label");
          }
          return out;
        }"""
    )
    # then every reviews workload carries the badges, with the split, and other services none
    for workload in ("reviews-v1", "reviews-v2", "reviews-v3"):
        assert labels[workload].split("\n")[-1] == "bookinfo · v1:90 v2:10 · ⚡"
    assert "v1:90" not in labels["productpage-v1"]
    # and the side panel lists them in words
    position = page.evaluate(
        """() => {
          const m = window.meshuiGraph.model;
          const node = [...m.nodes.values()].find((n) => n.workload === "reviews-v2" && !n.is_group);
          const p = window.meshuiGraph.cy.getElementById(node.id).renderedPosition();
          return { x: p.x, y: p.y };
        }"""
    )
    box = page.get_by_test_id("graph-canvas").bounding_box()
    page.mouse.click(box["x"] + position["x"], box["y"] + position["y"])
    badges = page.get_by_test_id("panel-badges")
    expect(badges).to_be_visible()
    expect(badges.locator("li")).to_have_text([
        "VS VirtualService reviews", "v1:90 v2:10 Split: v1 90%, v2 10%", "⚡ Fault injection: abort 503 on 5%",
    ])  # fmt: skip
    page.get_by_test_id("legend").locator("summary").click()
    expect(page.get_by_test_id("legend-routing-status")).to_have_text("1 service with routing in view")
    # (the graph pans the selected node out from under the panel: let it come to rest)
    page.wait_for_function("() => !window.meshuiGraph.cy.animated()")
    screenshot(page, "traffic-badges")


def test_an_unedited_header_route_routes_nothing(demo_server: MeshuiServer, page: Page) -> None:
    sign_in(page, demo_server, OPERATOR, "operator")
    before = session_api(page, demo_server, TRAFFIC)[1]
    _open_reviews_editor(page, demo_server)
    # when a header route is added and left as it is
    page.get_by_test_id("add-route").click()
    row = page.get_by_test_id("route-row").last
    # then its fields are empty with examples as placeholders only
    header, value = row.locator('[data-route="header"]'), row.locator('[data-route="value"]')
    expect(header).to_have_value("")
    expect(value).to_have_value("")
    expect(header).to_have_attribute("placeholder", "header, e.g. x-group")
    # and reviewing it is refused next to the route, with nothing offered to apply
    page.get_by_test_id("traffic-review").click()
    error = page.get_by_test_id("traffic-field-error")
    expect(error).to_contain_text("name the header", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("traffic-apply")).to_be_disabled()
    after = session_api(page, demo_server, TRAFFIC)[1]
    assert (after["version"], after["routes"]) == (before["version"], before["routes"])
    screenshot(page, "traffic-editor-empty-route")
