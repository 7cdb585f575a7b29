"""Every page works under meshui's strict Content-Security-Policy, in Debian's Chromium.

Each page is opened with a listener for ``securitypolicyviolation`` installed before any of its
scripts run; the test fails on any violation and on any console message about the policy.
Screenshots (``test-results/e2e/csp-*.png``) show that the pages still render.
Also: the sign-in lockout as a browser sees it.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.e2e.conftest import MeshuiServer, screenshot

pytestmark = pytest.mark.e2e
pytest_plugins = ["tests.e2e.graph_fixtures"]

ADMIN = ("csp-ada", "csp-admin-password-1")
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""
GRAPH = "/?graph_type=app&namespaces=bookinfo,shop&window=10m"
SERVICE = "/namespaces/bookinfo/services/reviews"


class PolicyWatch:
    """Violations and policy console messages seen by ``page`` since ``watch(page)``."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(COLLECT_VIOLATIONS)
        page.on("console", self._on_console)

    def _on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def problems(self) -> list[str]:
        return [*self.page.evaluate("window.__cspViolations || []"), *self.console]


def open_page(page: Page, server: MeshuiServer, path: str) -> None:
    response = page.goto(f"{server.url}{path}")
    assert response is not None
    assert response.status == 200, path
    assert response.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self';")


def a_trace_id(server: MeshuiServer) -> str:
    url = f"{server.url}/api/v1/namespaces/bookinfo/services/productpage/traces?window=10m"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())["traces"][0]["trace_id"]


def test_the_graph_page_and_its_live_socket_raise_no_violation(demo_server: MeshuiServer, page: Page):
    # given the graph page, live (its websocket is allowed by connect-src)
    watch = PolicyWatch(page)
    open_page(page, demo_server, GRAPH)
    page.wait_for_function("() => window.meshuiGraph && window.meshuiGraph.layoutDone")
    page.evaluate("window.meshuiGraph.layoutDone")
    expect(page.get_by_test_id("live-indicator")).to_have_attribute("data-state", "live", timeout=30_000)
    # when a service node is selected (the side panel, its sparklines and the traffic editor)
    page.evaluate("window.meshuiGraph.cy.nodes()[0].emit('tap')")
    expect(page.get_by_test_id("side-panel")).to_be_visible()
    screenshot(page, "csp-graph")
    # and the canvas kept its place (Cytoscape's container rule comes from no injected style)
    assert page.evaluate("getComputedStyle(document.getElementById('graph-canvas')).position") == "absolute"
    assert page.evaluate("document.getElementById('graph-canvas').clientHeight") > 300
    # then nothing was refused
    assert watch.problems() == []


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("login", "/login/"),
        ("overview", "/overview"),
        ("services", "/services"),
        ("workloads", "/workloads?namespace=bookinfo"),
        ("apps", "/apps"),
        ("changes", "/changes"),
        ("istio-config", "/istio-config"),
        ("api-docs", "/api/docs/"),
    ],
)
def test_pages_raise_no_violation(demo_server: MeshuiServer, page: Page, name: str, path: str):
    watch = PolicyWatch(page)
    open_page(page, demo_server, path)
    page.wait_for_load_state("networkidle")
    screenshot(page, f"csp-{name}")
    assert watch.problems() == []


def test_the_api_docs_render_the_operations(demo_server: MeshuiServer, page: Page):
    watch = PolicyWatch(page)
    open_page(page, demo_server, "/api/docs/")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=20_000)
    assert watch.problems() == []
    # and the page leads back to meshui and describes the whole API, not only the graph
    expect(page.get_by_test_id("api-docs-back").locator('a[href="/"]')).to_have_text("← meshui")
    expect(page.locator(".swagger-ui .info")).to_contain_text("traffic routing")
    screenshot(page, "api-docs")


def test_a_service_page_and_its_traffic_tab_raise_no_violation(demo_server: MeshuiServer, page: Page):
    # given a service's detail page with its charts
    watch = PolicyWatch(page)
    open_page(page, demo_server, SERVICE)
    page.wait_for_load_state("networkidle")
    # when its traffic tab is opened
    page.get_by_test_id("traffic-tab-link").click()
    expect(page.get_by_test_id("traffic-tab")).to_be_visible()
    swatch = page.locator(".tr-swatch").first
    expect(swatch).to_be_attached(timeout=20_000)
    screenshot(page, "csp-service-traffic")
    # then the subsets' colours were applied (through the CSSOM) and nothing was refused
    assert page.evaluate("getComputedStyle(document.querySelector('.tr-swatch')).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert watch.problems() == []


def test_the_trace_waterfall_raises_no_violation(demo_server: MeshuiServer, page: Page):
    # given a trace of the demo mesh
    watch = PolicyWatch(page)
    open_page(page, demo_server, f"/traces/{a_trace_id(demo_server)}?window=10m")
    page.evaluate("window.meshuiTrace.ready")
    expect(page.get_by_test_id("span-row").first).to_be_visible()
    screenshot(page, "csp-trace")
    # then its bars have their widths and colours, and nothing was refused
    bar = page.evaluate("(s => [s.width, s.backgroundColor])(getComputedStyle(document.querySelector('.wf-bar')))")
    assert bar[0] != "0px"
    assert bar[1] != "rgba(0, 0, 0, 0)"
    assert watch.problems() == []


def test_the_admin_pages_raise_no_violation(demo_server: MeshuiServer, page: Page):
    # given an admin signed in at /admin/login/
    if ADMIN[0] not in demo_server.users:
        demo_server.create_user(*ADMIN, role="admin")
    watch = PolicyWatch(page)
    open_page(page, demo_server, "/admin/login/")
    page.get_by_label("Username").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_be_visible()
    # when the users list and a user's form are opened
    open_page(page, demo_server, "/admin/auth/user/")
    page.get_by_role("link", name=ADMIN[0]).click()
    expect(page.locator("#user_form")).to_be_visible()
    screenshot(page, "csp-admin-user")
    # then nothing was refused
    assert watch.problems() == []


def test_a_locked_account_sees_when_to_retry(demo_server: MeshuiServer, page: Page):
    # given a user who mistypes their password five times
    user = ("csp-lou", "csp-lou-password-1")
    if user[0] not in demo_server.users:
        demo_server.create_user(*user, role="viewer")
    page.goto(f"{demo_server.url}/login/")
    for _ in range(5):
        page.get_by_label("Username").fill(user[0])
        page.get_by_label("Password").fill("not-the-password")
        with page.expect_response(lambda r: r.url.endswith("/login/") and r.request.method == "POST") as answer:
            page.get_by_test_id("login-submit").click()
    # then the last answer is a 429 saying when to retry
    assert answer.value.status == 429
    assert answer.value.headers["retry-after"] == "900"
    expect(page.get_by_test_id("login-error")).to_have_text(
        "Too many failed sign-ins: signing in is paused. Try again in 15 minutes."
    )
    # and the right password is refused while it lasts
    page.get_by_label("Username").fill(user[0])
    page.get_by_label("Password").fill(user[1])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_contain_text("Too many failed sign-ins")
    expect(page.get_by_test_id("user-name")).to_have_count(0)
    screenshot(page, "login-locked")
