"""Fixtures: one real Prometheus serving the known mesh of ``tests.support.mesh_truth``.

Other suites may import these fixtures' helpers from ``tests.support``; the fixtures
themselves stay here so that only the tests that need Prometheus start it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from metrics.client import PrometheusClient
from tests.support import mesh_truth
from tests.support.prometheus import RunningPrometheus, start_prometheus, write_openmetrics


@pytest.fixture(scope="session")
def mesh_openmetrics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mesh-data") / "mesh.om"
    write_openmetrics(mesh_truth.series(), path)
    return path


@pytest.fixture(scope="session")
def prometheus(
    mesh_openmetrics: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningPrometheus]:
    running = start_prometheus(mesh_openmetrics, tmp_path_factory.mktemp("prometheus"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def scoped_client(prometheus: RunningPrometheus) -> PrometheusClient:
    """A client of the test Prometheus, scoped to the mesh under test."""
    return PrometheusClient(prometheus.url, timeout_s=10, scope=mesh_truth.SCOPE)
