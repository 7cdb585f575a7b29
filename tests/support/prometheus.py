"""A real Prometheus for tests: backfill OpenMetrics data with promtool, serve it on 127.0.0.1.

Usage::

    series = [MetricSeries("up", {"job": "x"}, [(t, 1.0) for t in range(...)])]
    write_openmetrics(series, tmp / "data.om")
    running = start_prometheus(tmp / "data.om", tmp)
    try:
        ...  # query running.url at time running.data_end
    finally:
        running.stop()

``promtool tsdb create-blocks-from openmetrics`` only accepts data older than the head of the
database, and the data is queried at its own end time (``data_end``), so generators write
samples that end in the past. Retention is set to 100 years so old test data is never deleted.
Everything listens on 127.0.0.1 and every process is stopped by PID.
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class MetricSeries:
    """One series to backfill: metric name, labels and ``(unix seconds, value)`` points."""

    name: str
    labels: dict[str, str]
    points: Sequence[tuple[float, float]]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def write_openmetrics(series: Iterable[MetricSeries], path: Path) -> float:
    """Write ``series`` as an OpenMetrics file promtool can backfill; returns the last timestamp.

    Series of one metric are written together (OpenMetrics groups a metric family), points in
    time order; the file ends with ``# EOF``. Raises ``ValueError`` when there are no points.
    """
    data_end = -math.inf
    by_name: dict[str, list[MetricSeries]] = {}
    for one in series:
        by_name.setdefault(one.name, []).append(one)
    with Path(path).open("w", encoding="utf-8", newline="\n") as out:
        for name in sorted(by_name):
            for one in by_name[name]:
                labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(one.labels.items()))
                prefix = f"{name}{{{labels}}}" if labels else name
                for timestamp, value in sorted(one.points):
                    out.write(f"{prefix} {_number(value)} {timestamp:.3f}\n")
                    data_end = max(data_end, timestamp)
        out.write("# EOF\n")
    if data_end == -math.inf:
        raise ValueError("no points to write")
    return data_end


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningPrometheus:
    """A Prometheus started by ``start_prometheus``; ``stop()`` ends it by PID."""

    url: str
    pid: int
    data_end: float
    process: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        """Terminate, wait up to 10 s, then kill; safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def backfill(openmetrics_path: Path, data_dir: Path) -> None:
    """Create TSDB blocks in ``data_dir`` from the OpenMetrics file (raises on promtool failure)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics_path), str(data_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"promtool failed ({result.returncode}): {result.stderr[-2000:]}")


def _last_timestamp(openmetrics_path: Path) -> float:
    last = -math.inf
    with Path(openmetrics_path).open(encoding="utf-8", newline="\n") as lines:
        for line in lines:
            if line.startswith("#") or not line.strip():
                continue
            last = max(last, float(line.rsplit(" ", 1)[1]))
    return last


def start_prometheus(
    openmetrics_path: Path,
    tmp_dir: Path,
    *,
    data_end: float | None = None,
    extra_args: Sequence[str] = (),
    remote_read_url: str | None = None,
    backfilled: bool = False,
) -> RunningPrometheus:
    """Backfill ``openmetrics_path`` into ``tmp_dir/data`` and serve it on a free loopback port.

    ``data_end`` defaults to the file's last timestamp. ``extra_args`` are added to the command
    line (e.g. ``--query.max-samples=1000``); ``backfilled`` serves ``tmp_dir/data`` as it is.
    ``remote_read_url`` adds a ``remote_read`` entry (with ``read_recent``) — pointing it at a
    closed port makes every query carry a real Prometheus warning. Waits for ``/-/ready`` (at
    most 60 s) and raises ``RuntimeError`` with the log tail when Prometheus does not get ready;
    the process is stopped in that case.
    """
    tmp_dir = Path(tmp_dir)
    data_dir = tmp_dir / "data"
    if not backfilled:
        backfill(Path(openmetrics_path), data_dir)
    config = tmp_dir / "prometheus.yml"
    config_text = "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\nscrape_configs: []\n"
    if remote_read_url:
        config_text += (
            f"remote_read:\n  - url: {remote_read_url}\n    read_recent: true\n    remote_timeout: 2s\n"
        )
    config.write_text(config_text)
    end = data_end if data_end is not None else _last_timestamp(Path(openmetrics_path))
    log_path = tmp_dir / "prometheus.log"
    for _attempt in range(3):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={data_dir}",
                    "--storage.tsdb.retention.time=100y",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--web.enable-admin-api",
                    *extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        running = RunningPrometheus(
            url=url, pid=process.pid, data_end=end, process=process, log_path=log_path
        )
        if _wait_ready(running):
            return running
        running.stop()
        if "address already in use" not in log_path.read_text():
            break
    raise RuntimeError(f"Prometheus did not get ready: {log_path.read_text()[-3000:]}")


def _wait_ready(running: RunningPrometheus) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{running.url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def start_prometheus_with_rules(
    openmetrics_path: Path, tmp_dir: Path, rules_text: str, *, start: float, end: float
) -> RunningPrometheus:
    """A Prometheus serving the OpenMetrics data *and* what ``rules_text`` records over it.

    ``promtool tsdb create-blocks-from rules`` evaluates the rules against a first Prometheus
    over the backfilled data, from ``start`` to ``end`` at each group's interval; its blocks
    are moved into the data directory and the data served again (the rules are not loaded, so
    the recorded series are exactly the backfilled ones). Raises ``RuntimeError`` on failure.
    """
    tmp_dir = Path(tmp_dir)
    rules = tmp_dir / "rules.yaml"
    rules.write_text(rules_text)
    first = start_prometheus(openmetrics_path, tmp_dir)
    blocks = tmp_dir / "rule-blocks"
    try:
        result = subprocess.run(
            [PROMTOOL, "tsdb", "create-blocks-from", "rules", f"--url={first.url}", f"--start={int(start)}",
             f"--end={int(end)}", f"--output-dir={blocks}", str(rules)],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    finally:
        first.stop()
    if result.returncode != 0:
        raise RuntimeError(f"promtool rules backfill failed ({result.returncode}): {result.stderr[-2000:]}")
    for block in blocks.iterdir():
        if block.is_dir():
            shutil.move(str(block), str(tmp_dir / "data" / block.name))
    return start_prometheus(openmetrics_path, tmp_dir, data_end=first.data_end, backfilled=True)
