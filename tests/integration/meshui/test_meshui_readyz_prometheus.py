"""/readyz against a real Prometheus (Debian's server, started on 127.0.0.1 by the test)."""

from __future__ import annotations

import time

import pytest

from tests.support.prometheus import MetricSeries, start_prometheus, write_openmetrics

pytestmark = pytest.mark.integration


def test_readyz_reports_a_reachable_prometheus(db, client, settings, tmp_path):
    # given a real Prometheus holding one series
    now = int(time.time()) - 3600
    write_openmetrics([MetricSeries("up", {"job": "meshui-test"}, [(now, 1.0)])], tmp_path / "data.om")
    prometheus = start_prometheus(tmp_path / "data.om", tmp_path)
    try:
        settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": prometheus.url}
        # when readiness is asked
        response = client.get("/readyz")
    finally:
        prometheus.stop()
    # then Prometheus is reported configured and answering
    upstream = response.json()["upstreams"]["prometheus"]
    assert response.status_code == 200
    assert (upstream["configured"], upstream["ok"], upstream["error"]) == (True, True, None)
    assert upstream["latency_ms"] > 0
