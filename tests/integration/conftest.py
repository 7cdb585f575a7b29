"""Fixtures shared by the integration suites: one real Prometheus serving the known mesh.

The mesh and its truth are in ``tests.support.mesh_truth``; the server is Debian's
Prometheus, backfilled with ``promtool`` and started on a free 127.0.0.1 port. It starts
only when a test asks for it, once per session, and is stopped by PID at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import mesh_truth
from tests.support.prometheus import RunningPrometheus, start_prometheus, write_openmetrics


@pytest.fixture(scope="session")
def mesh_openmetrics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mesh-data") / "mesh.om"
    write_openmetrics(mesh_truth.series(), path)
    return path


@pytest.fixture(scope="session")
def prometheus(mesh_openmetrics: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    running = start_prometheus(mesh_openmetrics, tmp_path_factory.mktemp("prometheus"))
    try:
        yield running
    finally:
        running.stop()
