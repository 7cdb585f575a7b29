"""Fixtures of the graph-page browser tests: meshui in demo mode (anonymous read) on real telemetry.

``graph_prometheus`` is Debian's Prometheus serving ``tests.support.mesh_truth`` (one hour
ending at ``DATA_END``, in the past: the page is opened with ``query_time`` = the data's end).
``graph_server`` is meshui with ``MESHUI_ANONYMOUS_READ=true`` reading that Prometheus.
``demo_server`` is meshui with anonymous read and no Prometheus: the built-in demo mesh, live.
``open_page(width, scheme)`` gives pages at the two sizes the graph is checked at (1600x1000,
1024x700), light or dark. Helpers: tests/e2e/graph_pages.py.
Every process is stopped by PID at the end of the session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.conftest import MeshuiServer, loopback_page, start_meshui_server
from tests.support import mesh_truth
from tests.support.prometheus import RunningPrometheus, start_prometheus, write_openmetrics


@pytest.fixture(scope="session")
def graph_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    directory = tmp_path_factory.mktemp("graph-prometheus")
    write_openmetrics(mesh_truth.series(), directory / "mesh.om")
    running = start_prometheus(directory / "mesh.om", directory)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def graph_server(
    graph_prometheus: RunningPrometheus, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MeshuiServer]:
    server = start_meshui_server(
        tmp_path_factory.mktemp("graph-server"),
        MESHUI_ANONYMOUS_READ="true",
        MESHUI_PROMETHEUS_URL=graph_prometheus.url,
        MESHUI_PROMETHEUS_SCOPE=mesh_truth.SCOPE,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshuiServer]:
    server = start_meshui_server(tmp_path_factory.mktemp("demo-server"), MESHUI_ANONYMOUS_READ="true")
    try:
        yield server
    finally:
        server.stop()


VIEWPORTS = {1600: {"width": 1600, "height": 1000}, 1024: {"width": 1024, "height": 700}}


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """``open_page(width, scheme)``: a page in a context of that viewport and colour scheme.

    As the ``page`` fixture does, any request off 127.0.0.1 is aborted and fails the test.
    """
    contexts = []
    blocked: list[str] = []

    def make(width: int, scheme: str) -> Page:
        page = loopback_page(browser, blocked, viewport=VIEWPORTS[width], color_scheme=scheme)
        contexts.append(page.context)
        return page

    yield make
    for context in contexts:
        context.close()
    assert blocked == [], f"the page tried to reach outside 127.0.0.1: {blocked}"
