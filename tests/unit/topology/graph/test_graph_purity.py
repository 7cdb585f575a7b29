"""The graph core stays pure: no Django, HTTP or other app imported, directly or indirectly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]


def test_graph_core_imports_no_framework_or_io_library() -> None:
    # given a fresh interpreter that imports every module of the graph core
    code = (
        "import sys, pkgutil, importlib, topology.graph as g\n"
        "for m in pkgutil.iter_modules(g.__path__): importlib.import_module('topology.graph.' + m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "{'django', 'rest_framework', 'channels', 'requests', 'metrics', 'meshui', 'traces',"
        " 'celery', 'redis'})\n"
        "print(','.join(bad))\n"
    )
    # when
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
