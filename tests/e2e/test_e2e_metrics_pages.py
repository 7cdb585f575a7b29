"""Overview → list → detail in demo mode, in Debian's Chromium; screenshots in test-results/e2e/."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import MeshuiServer, screenshot, start_meshui_server

pytestmark = pytest.mark.e2e
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshuiServer]:
    server = start_meshui_server(tmp_path_factory.mktemp("metrics-demo"), MESHUI_ANONYMOUS_READ="true")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def down_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshuiServer]:
    # A Prometheus URL on a port where nothing listens: every read is refused at once.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = start_meshui_server(
        tmp_path_factory.mktemp("metrics-down"),
        MESHUI_ANONYMOUS_READ="true",
        MESHUI_PROMETHEUS_URL=f"http://127.0.0.1:{port}",
        MESHUI_PROMETHEUS_TIMEOUT_S="1",
    )
    try:
        yield server
    finally:
        server.stop()


def test_overview_to_list_to_detail(demo_server: MeshuiServer, page: Page) -> None:
    page.set_viewport_size({"width": 1360, "height": 1000})
    # given the overview
    page.goto(f"{demo_server.url}/overview")
    card = page.locator('[data-testid="namespace-card"][data-namespace="bookinfo"]')
    expect(card).to_be_visible(timeout=TIMEOUT_MS)
    expect(card.locator("svg.spark polyline")).to_have_count(1)
    screenshot(page, "metrics-overview")
    # when the bookinfo card is opened
    card.click()
    row = page.locator('[data-testid="entity-row"][data-name="reviews"]')
    expect(row).to_be_visible(timeout=TIMEOUT_MS)
    expect(row.locator("td").nth(6)).to_have_text("v1v2v3")
    screenshot(page, "metrics-services")
    # then the detail page shows identity, neighbours and four charts
    row.locator('[data-testid="entity-link"]').click()
    expect(page.locator('[data-testid="identity"]')).to_contain_text(
        "reviews-v1, reviews-v2, reviews-v3", timeout=TIMEOUT_MS
    )
    expect(page.locator('[data-testid="neighbours-inbound"]')).to_contain_text("productpage")
    expect(page.locator('[data-testid="chart-requests"] .uplot')).to_have_count(1, timeout=TIMEOUT_MS)
    expect(page.locator('[data-testid="chart-latency"] .uplot')).to_have_count(1)
    expect(page.locator('[data-testid="graph-link"]')).to_have_attribute(
        "href", "/?namespaces=bookinfo&graph_type=service&find=reviews"
    )
    screenshot(page, "metrics-detail-service")
    page.locator('[data-testid="dir-outbound"]').click()
    expect(page.locator('[data-testid="chart-requests"] .uplot')).to_have_count(1, timeout=TIMEOUT_MS)
    screenshot(page, "metrics-detail-service-outbound")


def test_workload_list_filters_by_name(demo_server: MeshuiServer, page: Page) -> None:
    page.set_viewport_size({"width": 1360, "height": 900})
    page.goto(f"{demo_server.url}/workloads?namespace=bookinfo")
    expect(page.locator('[data-testid="entity-row"]').first).to_be_visible(timeout=TIMEOUT_MS)
    page.locator('[data-testid="name-filter"]').fill("reviews")
    expect(page.locator('[data-testid="entity-row"]')).to_have_count(3)
    screenshot(page, "metrics-workloads-filtered")


def test_pages_name_prometheus_when_it_is_down(down_server: MeshuiServer, page: Page) -> None:
    page.set_viewport_size({"width": 1360, "height": 900})
    page.goto(f"{down_server.url}/namespaces/shop/services/cart")
    expect(page.locator('[data-testid="upstream-banner"]')).to_contain_text(
        "refused the connection", timeout=TIMEOUT_MS
    )
    expect(page.locator('[data-testid="chart-error"]')).to_have_count(4)
    screenshot(page, "metrics-detail-prometheus-down")
    page.goto(f"{down_server.url}/overview")
    expect(page.locator('[data-testid="upstream-banner"]')).to_contain_text("Prometheus", timeout=TIMEOUT_MS)
    screenshot(page, "metrics-overview-prometheus-down")


def is_traces_api(url: str) -> bool:
    path = urlsplit(url).path
    return path.startswith("/api/") and "/traces" in path


def test_service_traces_tab_reads_traces_only_when_opened(demo_server: MeshuiServer, page: Page) -> None:
    page.set_viewport_size({"width": 1360, "height": 1000})
    trace_requests: list[str] = []
    page.on("request", lambda r: trace_requests.append(r.url) if is_traces_api(r.url) else None)
    # given the reviews service page, its charts drawn
    page.goto(f"{demo_server.url}/namespaces/bookinfo/services/reviews")
    expect(page.locator('[data-testid="chart-requests"] .uplot')).to_have_count(1, timeout=TIMEOUT_MS)
    assert trace_requests == []
    # when the Traces tab is opened
    page.get_by_test_id("tab-traces").click()
    tab = page.get_by_test_id("traces-tab")
    marks = tab.get_by_test_id("trace-mark")
    expect(marks.first).to_be_attached(timeout=TIMEOUT_MS)
    # then one request read the app's traces over the page's window, and the charts are hidden
    assert len(trace_requests) == 1
    url = urlsplit(trace_requests[0])
    assert url.path == "/api/v1/namespaces/bookinfo/services/reviews/traces"
    assert parse_qs(url.query) == {"window": ["30m"], "limit": ["50"]}
    expect(page.get_by_test_id("charts")).to_be_hidden()
    # and the scatter has one mark per trace, errors drawn as crosses
    with urllib.request.urlopen(f"{demo_server.url}{url.path}?{url.query}", timeout=30) as response:
        listed = json.loads(response.read())["traces"]
    assert marks.count() == len(listed)
    assert tab.locator("path.mark-error").count() == sum(t["has_error"] for t in listed)
    assert tab.locator("circle.mark-ok").count() == sum(not t["has_error"] for t in listed)
    screenshot(page, "metrics-detail-service-traces")
    # when a mark is clicked, then its trace page opens (the last one drawn: no other mark covers it)
    trace_id = marks.last.get_attribute("data-trace-id")
    marks.last.click()
    page.wait_for_url(f"**/traces/{trace_id}?window=30m", timeout=TIMEOUT_MS)
    page.wait_for_function("() => window.meshuiTrace", timeout=TIMEOUT_MS)
    assert page.evaluate("window.meshuiTrace.ready") == "trace"
    expect(page.get_by_test_id("span-row").first).to_be_visible()


def attribute_of_each(locator: Locator, name: str) -> list[str | None]:
    return locator.evaluate_all("(els, name) => els.map(e => e.getAttribute(name))", name)


def test_detail_links_to_traces_and_the_traffic_editor(demo_server: MeshuiServer, page: Page) -> None:
    page.set_viewport_size({"width": 1360, "height": 1000})
    # given the ratings service page and the detail the page read
    with page.expect_response(lambda r: urlsplit(r.url).path == "/api/v1/namespaces/bookinfo/services/ratings") as read:
        page.goto(f"{demo_server.url}/namespaces/bookinfo/services/ratings")
    inbound = read.value.json()["neighbours"]["inbound"]
    graph = page.get_by_test_id("neighbour-graph")
    expect(graph).to_be_visible(timeout=TIMEOUT_MS)
    # then its mini graph draws reviews calling it, with the page's own node between
    expect(graph.get_by_test_id("neighbour-node-self")).to_contain_text("ratings")
    callers = graph.get_by_test_id("neighbour-node-inbound")
    expect(callers).to_have_count(len(inbound))
    expect(callers.first).to_contain_text("reviews")
    # and each box shows that node's own health, each arrow the health of its traffic
    assert attribute_of_each(callers, "data-health") == [n["node_health"] for n in inbound]
    edges = graph.get_by_test_id("neighbour-edge-inbound")
    assert attribute_of_each(edges, "class") == [f"nb-edge nb-edge-{n['health']}" for n in inbound]
    screenshot(page, "metrics-detail-neighbour-graph")
    # and "Change traffic" opens the service graph with this service found
    href = page.get_by_test_id("traffic-link").get_attribute("href")
    assert href is not None
    query = parse_qs(urlsplit(href).query)
    assert query == {
        "namespaces": ["bookinfo"],
        "graph_type": ["service"],
        "find": ['ns="bookinfo" and kind=service and name="ratings"'],
    }
    # when the "Traces" link is followed, then the Traces tab opens
    page.get_by_test_id("traces-link").click()
    expect(page.get_by_test_id("traces-tab")).to_be_visible()
    expect(page.get_by_test_id("tab-traces")).to_have_attribute("aria-selected", "true")
    assert unquote(urlsplit(page.url).fragment) == "traces"


def api_json(server: MeshuiServer, path: str) -> dict:
    with urllib.request.urlopen(f"{server.url}{path}", timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_caller_whose_calls_fail_opens_on_its_outbound_side(demo_server: MeshuiServer, browser, scheme) -> None:
    # given the demo's reviews-v2, whose calls to ratings fail while it answers its callers
    api = api_json(demo_server, "/api/v1/namespaces/bookinfo/workloads/reviews-v2?window=5m")
    assert api["outbound_health"] in ("degraded", "failing"), api
    assert api["inbound_health"] == "healthy", api
    context = browser.new_context(color_scheme=scheme, viewport={"width": 1024, "height": 700})
    page = context.new_page()
    try:
        # when its page opens
        page.goto(f"{demo_server.url}/namespaces/bookinfo/workloads/reviews-v2")
        # then it says health in is fine and health out is not, blaming the outbound calls to ratings
        inbound = page.get_by_test_id("detail-inbound-health")
        expect(inbound).to_have_attribute("data-health", "healthy", timeout=TIMEOUT_MS)
        expect(page.get_by_test_id("detail-outbound-health")).to_have_attribute("data-health", api["outbound_health"])
        expect(page.get_by_test_id("health-reason")).to_contain_text("outbound")
        expect(page.get_by_test_id("health-reason")).to_contain_text("ratings-v1")
        # and the charts show the outbound side, where the errors are
        expect(page.get_by_test_id("dir-outbound")).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_test_id("detail-origin")).to_be_hidden()
        screenshot(page, f"detail-outbound-first-{scheme}-1024")
        # when the operator follows the callee, ratings says errors originate there
        page.goto(f"{demo_server.url}/namespaces/bookinfo/workloads/ratings-v1")
        expect(page.get_by_test_id("detail-origin")).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.get_by_test_id("dir-inbound")).to_have_attribute("aria-pressed", "true")
    finally:
        context.close()


@pytest.mark.parametrize(("kind", "name"), [("services", "reviews"), ("workloads", "reviews-v2")])
def test_show_in_graph_opens_the_graph_with_that_node_selected(demo_server: MeshuiServer, page: Page, kind, name):
    # given a detail page
    page.set_viewport_size({"width": 1024, "height": 700})
    page.goto(f"{demo_server.url}/namespaces/bookinfo/{kind}/{name}")
    # when "Show in graph" is followed
    page.get_by_test_id("graph-link").click()
    page.wait_for_function("() => window.meshuiGraph && window.meshuiGraph.layoutDone")
    # then the graph opens without a find error, with that node found, selected and in its panel
    expect(page.get_by_test_id("panel-title")).to_have_text(name, timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("filter-error")).to_be_hidden()
    expect(page.get_by_test_id("graph-summary")).to_contain_text("1 found")
    # and centred in the part of the canvas the panel leaves free (within 40 px, once panned)
    box = page.get_by_test_id("graph-canvas").bounding_box()
    panel = page.get_by_test_id("side-panel").bounding_box()
    free_centre = ((panel["x"] - box["x"]) / 2, box["height"] / 2)
    page.wait_for_function(
        """([x, y]) => { const n = window.meshuiGraph.cy.nodes(':selected');
             if (n.length !== 1) return false; const p = n.renderedPosition();
             return Math.abs(p.x - x) < 40 && Math.abs(p.y - y) < 40; }""",
        arg=list(free_centre), timeout=TIMEOUT_MS,
    )
    # and the panel links back to the detail page it came from
    links = page.get_by_test_id("panel-links")
    expect(links.locator(f'a[href="/namespaces/bookinfo/{kind}/{name}"]')).to_have_count(1)
    expect(links.locator('a[href="/namespaces/bookinfo/services/reviews"]')).to_have_count(1)
    screenshot(page, f"graph-opened-from-{kind}-1024")


def test_the_workload_list_says_which_direction_fails_and_where_errors_originate(demo_server, page: Page) -> None:
    # given the demo's bookinfo workloads, where reviews-v2's calls to ratings fail
    listed = {i["name"]: i for i in api_json(demo_server, "/api/v1/namespaces/bookinfo/workloads?window=30m")["items"]}
    assert listed["ratings-v1"]["error_origin"], listed["ratings-v1"]
    page.set_viewport_size({"width": 1024, "height": 700})
    page.goto(f"{demo_server.url}/workloads?namespace=bookinfo")
    # then reviews-v2's row says its outbound side is the unhealthy one, and ratings-v1's that errors start there
    reviews = page.locator('[data-testid="entity-row"][data-name="reviews-v2"]')
    expect(reviews.get_by_test_id("row-direction")).to_have_text("outbound", timeout=TIMEOUT_MS)
    expect(reviews.get_by_test_id("row-origin")).to_have_count(0)
    ratings = page.locator('[data-testid="entity-row"][data-name="ratings-v1"]')
    expect(ratings.get_by_test_id("row-origin")).to_be_visible()
    screenshot(page, "metrics-workloads-origin-1024")


@pytest.mark.parametrize("path", ["/overview", "/workloads?namespace=bookinfo", "/namespaces/bookinfo/services/reviews",
                                  "/changes", "/istio-config", "/login/"])
def test_every_page_follows_dark_mode(demo_server: MeshuiServer, browser, path: str) -> None:
    # given a browser in dark mode
    context = browser.new_context(color_scheme="dark", viewport={"width": 1024, "height": 700})
    page = context.new_page()
    try:
        page.goto(f"{demo_server.url}{path}")
        page.wait_for_load_state("networkidle")
        # then the page and its cards are dark, and the text light
        colours = page.evaluate("""() => {
          const lum = (c) => {
            const [r, g, b] = c.match(/\\d+/g).map(Number);
            return 0.2126 * r + 0.7152 * g + 0.0722 * b;
          };
          const body = getComputedStyle(document.body);
          const card = document.querySelector('.card, .m-table, main');
          const cardBg = card ? getComputedStyle(card).backgroundColor : body.backgroundColor;
          const seen = cardBg === 'rgba(0, 0, 0, 0)' ? body.backgroundColor : cardBg;
          return { bg: lum(body.backgroundColor), text: lum(body.color), card: lum(seen) };
        }""")
        assert colours["bg"] < 60, colours
        assert colours["card"] < 70, colours
        assert colours["text"] > 180, colours
        screenshot(page, f"dark{path.replace('/', '-').replace('?', '-').replace('=', '-')}")
    finally:
        context.close()


def test_the_window_picked_on_one_page_carries_to_every_page(demo_server: MeshuiServer, page: Page) -> None:
    page.set_viewport_size({"width": 1024, "height": 700})
    # given the graph page, where the operator picks a 1h window
    page.goto(f"{demo_server.url}/?namespaces=bookinfo")
    page.wait_for_function("() => window.meshuiGraph && window.meshuiGraph.layoutDone")
    page.get_by_test_id("window").select_option("1h")
    # then the overview, a list and a detail page open on 1h, and say the rule
    for path in ("/overview", "/workloads?namespace=bookinfo", "/namespaces/bookinfo/workloads/reviews-v2"):
        with page.expect_request(lambda request: "/api/v1/" in request.url and "window=1h" in request.url):
            page.goto(f"{demo_server.url}{path}")
        expect(page.get_by_test_id("window")).to_have_value("1h")
        expect(page.get_by_test_id("window")).to_have_attribute("title", re.compile("every page"))
    # when the detail page's window is changed to 10m, the graph opens on 10m and reads it
    page.get_by_test_id("window").select_option("10m")
    with page.expect_request(lambda request: "window=10m" in request.url or "/ws/graph/" in request.url):
        page.goto(f"{demo_server.url}/?namespaces=bookinfo")
    expect(page.get_by_test_id("window")).to_have_value("10m")
    assert parse_qs(urlsplit(page.url).query)["window"] == ["10m"]
    page.wait_for_function("() => window.meshuiGraph.model.nodes.size > 0", timeout=TIMEOUT_MS)
    # and a window in a shared link wins over the remembered one
    page.goto(f"{demo_server.url}/workloads?namespace=bookinfo&window=3h")
    expect(page.get_by_test_id("window")).to_have_value("3h")
