"""Helpers of the graph-page browser tests: open the graph, read the API it draws."""

from __future__ import annotations

import json
import urllib.request

from playwright.sync_api import Page

from tests.e2e.conftest import MeshuiServer


def open_graph(page: Page, server: MeshuiServer, query: str = "") -> None:
    """Open ``/?<query>`` (``/`` without one) and wait until its first layout is applied."""
    response = page.goto(f"{server.url}/{'?' + query if query else ''}")
    assert response is not None
    assert response.status == 200
    page.wait_for_function("() => window.meshuiGraph && window.meshuiGraph.layoutDone")
    page.evaluate("window.meshuiGraph.layoutDone")


def api_get(server: MeshuiServer, path: str) -> dict:
    """``GET <path>`` of ``server`` (anonymous read), parsed."""
    with urllib.request.urlopen(f"{server.url}{path}", timeout=30) as response:
        return json.loads(response.read())


def api_graph(server: MeshuiServer, query: str) -> dict:
    """``GET /api/v1/graph?<query>`` of ``server`` (anonymous read), parsed."""
    return api_get(server, f"/api/v1/graph?{query}")
