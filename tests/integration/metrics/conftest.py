"""Fixtures of the Prometheus reader tests (the server itself is in tests/integration/conftest.py)."""

from __future__ import annotations

import pytest

from metrics.client import PrometheusClient
from tests.support import mesh_truth
from tests.support.prometheus import RunningPrometheus


@pytest.fixture
def scoped_client(prometheus: RunningPrometheus) -> PrometheusClient:
    """A client of the test Prometheus, scoped to the mesh under test."""
    return PrometheusClient(prometheus.url, timeout_s=10, scope=mesh_truth.SCOPE)
