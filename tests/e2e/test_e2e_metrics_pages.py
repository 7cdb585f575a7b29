"""Overview → list → detail in demo mode, in Debian's Chromium; screenshots in test-results/e2e/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

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
    expect(page.locator('[data-testid="graph-link"]')).to_have_attribute("href", "/?namespaces=bookinfo&find=reviews")
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
