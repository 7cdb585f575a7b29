"""Fixtures of the graph-page browser tests: meshui in demo mode (anonymous read) on real telemetry.

``graph_prometheus`` is Debian's Prometheus serving ``tests.support.mesh_truth`` (one hour
ending at ``DATA_END``, in the past: the page is opened with ``query_time`` = the data's end).
``graph_server`` is meshui with ``MESHUI_ANONYMOUS_READ=true`` reading that Prometheus.
``demo_server`` is meshui with anonymous read and no Prometheus: the built-in demo mesh, live.
Every process is stopped by PID at the end of the session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import MeshuiServer, start_meshui_server
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
