"""The traffic editor on the service detail page, and the Changes page's reverts, in Chromium.

An operator shifts reviews to v1 90 / v3 10 with the sliders of the service page's Traffic
routing tab (review → diff → apply), the API state and the audit log have exactly that, and the
page's own routing line follows; a viewer gets a read-only editor; an app page edits the
service of its name; answers from the backend's cache say when they last synced; the Changes
page names the change that reverted another and shows a refused revert's diff inline.
Screenshots in test-results/e2e/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.conftest import MeshuiServer, screenshot, session_api, sign_in, start_meshui_server

pytestmark = pytest.mark.e2e
TIMEOUT_MS = 20_000
OPERATOR = ("otto", "otto-operator-password-1")
VIEWER = ("vicky", "vicky-viewer-password-1")
SERVICE_PAGE = "/namespaces/bookinfo/services/reviews"
TRAFFIC = "/api/v1/namespaces/bookinfo/services/reviews/traffic"
CHANGES = "/api/v1/changes?namespace=bookinfo&service=reviews"


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshuiServer]:
    server = start_meshui_server(tmp_path_factory.mktemp("service-traffic"), MESHUI_ANONYMOUS_READ="true")
    try:
        server.create_user(*OPERATOR, role="operator")
        server.create_user(*VIEWER, role="viewer")
        yield server
    finally:
        server.stop()


def test_operator_shifts_reviews_to_v1_and_v3_from_the_service_page(demo_server: MeshuiServer, page: Page) -> None:
    page.set_viewport_size({"width": 1360, "height": 1000})
    sign_in(page, demo_server, OPERATOR, "operator")
    # given the reviews service page, whose routing line says it has no routing yet
    page.goto(f"{demo_server.url}{SERVICE_PAGE}")
    expect(page.get_by_test_id("detail-routing-summary")).to_have_text("no routing", timeout=TIMEOUT_MS)
    # when the operator opens the Traffic routing tab and moves the sliders: v2 to 0, locked, then v1 to 90
    page.get_by_test_id("traffic-tab-link").click()
    expect(page.get_by_test_id("traffic-tab")).to_be_visible()
    expect(page.get_by_test_id("charts")).to_be_hidden()
    page.get_by_test_id("weights-on").check()
    page.get_by_test_id("weight-slider-v2").fill("0")
    page.get_by_test_id("weight-lock-v2").check()
    page.get_by_test_id("weight-slider-v1").fill("90")
    # then v3 takes the rest and the total stays 100
    expect(page.get_by_test_id("weight-input-v3")).to_have_value("10")
    expect(page.get_by_test_id("weight-input-v2")).to_have_value("0")
    expect(page.get_by_test_id("weights-total")).to_have_text("Total 100%")
    screenshot(page, "traffic-detail-weights")
    # when the change is reviewed, then the dry run's diff shows the split and nothing is written yet
    expect(page.get_by_test_id("traffic-apply")).to_be_disabled()
    page.get_by_test_id("traffic-review").click()
    diff = page.get_by_test_id("traffic-diff")
    expect(diff).to_contain_text("+kind: VirtualService", timeout=TIMEOUT_MS)
    expect(diff).to_contain_text("subset: v3")
    expect(diff).to_contain_text("weight: 90")
    status, state = session_api(page, demo_server, TRAFFIC)
    assert (status, state["weights"]) == (200, {})
    screenshot(page, "traffic-detail-review")
    # when it is applied
    page.get_by_test_id("traffic-apply").click()
    expect(page.get_by_test_id("traffic-status")).to_contain_text("Applied (change #", timeout=TIMEOUT_MS)
    change_id = int(re.search(r"change #(\d+)", page.get_by_test_id("traffic-status").inner_text()).group(1))
    # then the API state has exactly those weights
    status, state = session_api(page, demo_server, TRAFFIC)
    assert (status, state["weights"]) == (200, {"v1": 90, "v3": 10})
    # and the audit log has the change, by the operator, from none to the split
    status, body = session_api(page, demo_server, CHANGES)
    newest = body["changes"][0]
    assert (status, newest["id"], newest["actor"], newest["operation"]) == (200, change_id, OPERATOR[0], "patch")
    assert (newest["before"]["weights"], newest["after"]["weights"]) == ({}, {"v1": 90, "v3": 10})
    # and v2, dropped from the DestinationRule at 0, is still offered (telemetry knows it)
    expect(page.get_by_test_id("weight-input-v2")).to_have_value("0")
    # and the page's own routing line shows the new routing, with a link to the change
    expect(page.get_by_test_id("detail-routing-summary")).to_have_text("v1 90% · v3 10%")
    expect(page.get_by_test_id("traffic-status-link")).to_have_attribute(
        "href", f"/changes?namespace=bookinfo&service=reviews#change-{change_id}"
    )
    expect(page.get_by_test_id("traffic-changes-link")).to_have_attribute(
        "href", "/changes?namespace=bookinfo&service=reviews"
    )
    screenshot(page, "traffic-detail-applied")
    # and after a reload the page reads it back: line, form and summary agree
    page.goto(f"{demo_server.url}{SERVICE_PAGE}#traffic")
    expect(page.get_by_test_id("weight-input-v1")).to_have_value("90", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("weight-input-v3")).to_have_value("10")
    expect(page.get_by_test_id("detail-routing-summary")).to_have_text("v1 90% · v3 10%")


def test_a_viewer_sees_a_read_only_editor_on_the_service_page(demo_server: MeshuiServer, page: Page) -> None:
    page.set_viewport_size({"width": 1360, "height": 1000})
    # given a viewer
    sign_in(page, demo_server, VIEWER, "viewer")
    # when they open the Traffic routing tab of reviews
    page.goto(f"{demo_server.url}{SERVICE_PAGE}#traffic")
    # then they read the routing, every control is disabled and the hint says who may change it
    expect(page.get_by_test_id("traffic-readonly")).to_contain_text("Sign in as an operator", timeout=TIMEOUT_MS)
    for control in ("weights-on", "traffic-review", "traffic-apply", "add-route", "timeout"):
        expect(page.get_by_test_id(control)).to_be_disabled()
    expect(page.get_by_test_id("tab-traffic")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_test_id("detail-routing")).to_be_visible()
    screenshot(page, "traffic-detail-viewer")


def test_an_app_page_edits_the_service_of_its_name(demo_server: MeshuiServer, page: Page) -> None:
    page.set_viewport_size({"width": 1360, "height": 1000})
    # given the reviews app page (the demo has a reviews service)
    page.goto(f"{demo_server.url}/namespaces/bookinfo/apps/reviews")
    # when its Traffic routing tab is opened
    page.get_by_test_id("tab-traffic").click()
    # then the editor shows the routing of the reviews service, and the routing line says whose it is
    expect(page.get_by_test_id("traffic-editor").locator("form")).to_have_attribute(
        "aria-label", "Traffic routing of reviews", timeout=TIMEOUT_MS
    )
    expect(page.get_by_test_id("detail-routing")).to_contain_text("Routing of service reviews")
    expect(page.get_by_test_id("traffic-readonly")).to_be_visible()
    screenshot(page, "traffic-detail-app")


def _as_if_from_cache(route: Route) -> None:
    """Answer with the server's body, marked as read from the Kubernetes backend's cache 7.2 s ago."""
    response = route.fetch()
    body = {**response.json(), "from_cache": True, "sync_age_s": 7.2, "synced_at": "2026-01-02T03:04:05.000+00:00"}
    route.fulfill(response=response, body=json.dumps(body))


def test_reads_from_the_cache_say_when_they_last_synced(demo_server: MeshuiServer, page: Page) -> None:
    page.set_viewport_size({"width": 1360, "height": 1000})
    # given traffic and istio-config answers served from the backend's cache (the demo's local
    # backend never caches, so the answers are marked on their way)
    page.route("**/api/v1/namespaces/*/services/*/traffic", _as_if_from_cache)
    page.route("**/api/v1/istio-config*", _as_if_from_cache)
    # when the service page's editor shows the routing, then its meta line says how old it is
    page.goto(f"{demo_server.url}{SERVICE_PAGE}#traffic")
    synced = page.get_by_test_id("traffic-synced")
    expect(synced).to_have_text(re.compile(r"^last synced (7|8|9|1\d) s ago$"), timeout=TIMEOUT_MS)
    expect(synced).to_have_attribute("title", re.compile("2026-01-02T03:04:05"))
    # and the graph's routing status line says it too
    page.goto(f"{demo_server.url}/?namespaces=bookinfo&graph_type=workload")
    page.wait_for_function("() => document.getElementById('graph-page').dataset.routing === 'loaded'")
    page.get_by_test_id("legend").locator("summary").click()
    expect(page.get_by_test_id("legend-routing-status")).to_have_text(
        re.compile(r"^\d+ services? with routing in view · last synced (7|8|9|1\d) s ago$")
    )


def test_changes_page_names_the_revert_and_shows_a_refused_revert_inline(demo_server: MeshuiServer, page: Page) -> None:
    page.set_viewport_size({"width": 1360, "height": 1000})
    sign_in(page, demo_server, OPERATOR, "operator")
    # given a change of reviews reverted through the API
    status, first = session_api(page, demo_server, TRAFFIC, "PATCH", {"timeout": "3s"})
    assert status == 200
    status, revert = session_api(page, demo_server, f"/api/v1/changes/{first['change_id']}/revert", "POST")
    assert status == 200
    # and a change followed by another one
    status, stale = session_api(page, demo_server, TRAFFIC, "PATCH", {"timeout": "4s"})
    assert status == 200
    status, latest = session_api(page, demo_server, TRAFFIC, "PATCH", {"timeout": "5s"})
    assert status == 200
    # when the Changes page of reviews is opened
    page.goto(f"{demo_server.url}/changes?namespace=bookinfo&service=reviews")
    reverted = page.locator(f'[data-testid="change"][data-change-id="{first["change_id"]}"]')
    # then the reverted change names its revert instead of offering a Revert
    expect(reverted.get_by_test_id("change-reverted")).to_have_text(f"Reverted by #{revert['change_id']}")
    expect(reverted.get_by_test_id("revert")).to_have_count(0)
    expect(page.locator(f'[data-change-id="{revert["change_id"]}"]').get_by_test_id("revert")).to_be_enabled()
    # and the change that was followed by another says so, and can still be tried
    older = page.locator(f'[data-testid="change"][data-change-id="{stale["change_id"]}"]')
    expect(older.get_by_test_id("change-changed-since")).to_have_text(f"changed since (#{latest['change_id']})")
    screenshot(page, "traffic-changes-reverted-by")
    # when it is tried, then the API's 409 is shown inline with what changed since, and nothing is written
    older.get_by_test_id("revert").click()
    older.get_by_test_id("revert-confirm").click()
    result = older.get_by_test_id("revert-result")
    expect(result).to_contain_text("Not reverted: the routing changed since this change", timeout=TIMEOUT_MS)
    expect(result.get_by_test_id("traffic-diff")).to_contain_text("timeout: 5s")
    status, state = session_api(page, demo_server, TRAFFIC)
    assert (status, state["timeout"]) == (200, "5s")
    result.scroll_into_view_if_needed()
    screenshot(page, "traffic-changes-conflict")


def test_typed_weights_are_kept_as_typed_and_a_wrong_total_is_refused(demo_server: MeshuiServer, page: Page) -> None:
    page.set_viewport_size({"width": 1024, "height": 700})
    sign_in(page, demo_server, OPERATOR, "operator")
    page.goto(f"{demo_server.url}{SERVICE_PAGE}")
    page.get_by_test_id("traffic-tab-link").click()
    page.get_by_test_id("weights-on").check()
    # when the operator types v1 = 50, v2 = 50, v3 = 0 (from an even split)
    for subset, weight in (("v1", "50"), ("v2", "50"), ("v3", "0")):
        box = page.get_by_test_id(f"weight-input-{subset}")
        box.fill(weight)
        box.press("Tab")
    # then the boxes hold exactly what was typed, summing to 100
    for subset, weight in (("v1", "50"), ("v2", "50"), ("v3", "0")):
        expect(page.get_by_test_id(f"weight-input-{subset}")).to_have_value(weight)
    expect(page.get_by_test_id("weights-total")).to_have_text("Total 100%")
    # when v1 is typed up to 60, the total says what is wrong and a review is refused before any request
    page.get_by_test_id("weight-input-v1").fill("60")
    page.get_by_test_id("weight-input-v1").press("Tab")
    expect(page.get_by_test_id("weights-total")).to_have_text("Total 110%: the weights must sum to 100%")
    page.get_by_test_id("traffic-review").click()
    expect(page.get_by_test_id("traffic-status")).to_contain_text("Rebalance to 100%")
    expect(page.get_by_test_id("traffic-apply")).to_be_disabled()
    screenshot(page, "traffic-weights-wrong-total-1024")
    # when asked to rebalance, the typed proportions are kept and the total is 100
    page.get_by_test_id("rebalance").click()
    expect(page.get_by_test_id("weight-input-v1")).to_have_value("55")
    expect(page.get_by_test_id("weight-input-v2")).to_have_value("45")
    expect(page.get_by_test_id("weights-total")).to_have_text("Total 100%")
