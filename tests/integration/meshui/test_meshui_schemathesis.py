"""Schemathesis against the live schema of a running meshui: every check, 0 failures.

One daphne per instance, on 127.0.0.1 only: the demo mesh, and a real Prometheus (Debian's,
backfilled from ``tests.support.mesh_truth``) with a replaying Jaeger. Each is run as a viewer
and as an operator; the operator's writes go to the instance's own throwaway database (the
``local`` traffic backend). The run is bounded: ``MAX_EXAMPLES`` generated cases per operation
and phase, a fixed seed and derandomized generation (the same cases every run), one worker,
and ``RUN_TIMEOUT_S`` for the whole CLI run. The hooks in ``schemathesis_hooks.py`` keep
durations and query_time inside the two rules JSON Schema cannot state, and accept the two
refusals of schema-valid writes that are the contract (decision 0019).
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_OUTPUT
from tests.integration.traces.conftest import ReplayJaeger, jaeger  # noqa: F401 (the fixture)
from tests.support import mesh_truth
from tests.support.meshui_servers import REPO, MeshuiServers, meshui_servers
from tests.support.prometheus import RunningPrometheus

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 30
SEED = 19
RUN_TIMEOUT_S = 900
HOOKS = "tests.integration.meshui.schemathesis_hooks"
OUTPUT = TEST_OUTPUT / "schemathesis"


def live_schema(base_url: str, token: str, path: Path) -> Path:
    """The schema as the server serves it (JSON), saved to ``path``."""
    request = urllib.request.Request(f"{base_url}/api/v1/schema/?format=json",
                                     headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        path.write_bytes(response.read())
    return path


def run_schemathesis(schema: Path, base_url: str, token: str) -> tuple[int, str]:
    """``(exit code, output)`` of ``st run`` with every check on (run beside ``schema``, where it
    keeps its ``.schemathesis`` cache)."""
    command = [
        str(Path(sys.executable).with_name("st")), "run", str(schema), "--url", base_url,
        "--checks", "all", "--mode", "all",
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--generation-deterministic",
        "--workers", "1", "--request-timeout", "30",
        "--header", f"Authorization: Bearer {token}", "--no-color",
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": str(REPO),
           "DJANGO_SETTINGS_MODULE": "meshui.settings"}  # fmt: skip
    done = subprocess.run(command, cwd=schema.parent, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                          check=False)  # fmt: skip
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[MeshuiServers]:
    with meshui_servers(tmp_path, 1, username="st-operator", viewer="st-viewer", MESHUI_MESH_BACKEND="local") as s:
        yield s


@pytest.fixture
def on_prometheus(tmp_path: Path, prometheus: RunningPrometheus, jaeger: ReplayJaeger) -> Iterator[MeshuiServers]:  # noqa: F811
    with meshui_servers(tmp_path, 1, username="st-operator", viewer="st-viewer", MESHUI_MESH_BACKEND="local",
                        MESHUI_PROMETHEUS_URL=prometheus.url, MESHUI_PROMETHEUS_SCOPE=mesh_truth.SCOPE,
                        MESHUI_JAEGER_URL=jaeger.url) as s:  # fmt: skip
        yield s


def _failures_as_viewer_and_operator(servers: MeshuiServers, instance: str, tmp_path: Path) -> list[str]:
    """The runs that found something (their output's end); each run's whole output is kept in
    test-results/schemathesis/<instance>-<role>.txt."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    failures = []
    for role, token in (("viewer", servers.viewer_token), ("operator", servers.token)):
        assert token is not None
        schema = live_schema(servers.urls[0], token, tmp_path / f"schema-{role}.json")
        code, output = run_schemathesis(schema, servers.urls[0], token)
        (OUTPUT / f"{instance}-{role}.txt").write_text(output)
        if code != 0:
            failures.append(f"as {role} (exit {code}):\n{output[-12000:]}")
    return failures


def test_schemathesis_finds_nothing_on_the_demo(demo, tmp_path):
    assert _failures_as_viewer_and_operator(demo, "demo", tmp_path) == []


def test_schemathesis_finds_nothing_on_a_real_prometheus(on_prometheus, tmp_path):
    assert _failures_as_viewer_and_operator(on_prometheus, "prometheus", tmp_path) == []
