"""meshui's Prometheus recording rules: what they record, under which names, and their YAML.

The graph reader (``metrics.reader``) reads each metric either raw — ``rate()`` over Istio's
per-pod series — or, when Prometheus records it, from one of these rules: the same rates,
already aggregated away from the pods (``pod``, ``instance``, ``namespace``, principals, app
and version labels are gone) and already joined into ``meshui_edge``, at the windows the live
graph uses most. A recorded series keeps only ``meshui_edge``, the labels the reader groups by
(``reporter``, ``le``, outcomes, mTLS), the three namespace labels (so a selection still hits the
index) and the scope labels. Reading one costs Prometheus an instant selection of a few
thousand short series instead of ``rate()`` over a hundred thousand long ones.

The histogram rules record what the reader would read raw: the destination side, plus the
source side of requests whose destination workload is unknown (docs/decisions/0016).

``render_rules(scope_labels)`` writes the rule file; ``docs/prometheus-rules.yaml`` is its output
for no scope (a test keeps the two equal), ``manage.py prometheus_rules --scope-label mesh_id``
renders it for a deployment whose ``MESHUI_PROMETHEUS_SCOPE`` names labels. Rules depend only
on raw series, never on each other, so ``promtool tsdb create-blocks-from rules`` can backfill
them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from metrics.parse import EDGE_LABEL, EDGE_SEPARATOR
from metrics.promql import check_label_name, quote
from topology.graph.telemetry import IDENTITY_LABELS

RECORDED_PREFIX = "meshui:"
# Labels that place a series in a namespace: traffic to it (by service or by workload) or from it.
NAMESPACE_LABELS: tuple[str, ...] = (
    "destination_service_namespace",
    "destination_workload_namespace",
    "source_workload_namespace",
)


@dataclass(frozen=True, slots=True)
class RecordedWindow:
    """A window meshui records (``window_s``) and how often Prometheus evaluates it."""

    window_s: int
    interval_s: int

    @property
    def suffix(self) -> str:
        """The rule name suffix, e.g. ``rate5m``."""
        minutes, seconds = divmod(self.window_s, 60)
        return f"rate{minutes}m" if not seconds else f"rate{self.window_s}s"

    @property
    def max_age_s(self) -> int:
        """How old the newest recorded sample may be and still count as fresh: two missed
        evaluations, plus room for the evaluation itself."""
        return 2 * self.interval_s + 30


# The live graph's default window (5m) and the shortest one offered (1m).
WINDOWS: tuple[RecordedWindow, ...] = (RecordedWindow(60, 30), RecordedWindow(300, 60))


@dataclass(frozen=True, slots=True)
class RecordedMetric:
    """One raw Istio metric meshui records: its key, name, and the labels kept beside the edge."""

    key: str
    metric: str
    kept: tuple[str, ...]
    # Only the destination side and the source side of unknown destinations (histograms).
    histogram_sides: bool = False

    def recorded_name(self, window: RecordedWindow) -> str:
        """``meshui:<metric>:rate<window>``."""
        return f"{RECORDED_PREFIX}{self.metric}:{window.suffix}"


_SECURITY = "connection_security_policy"
RECORDED_METRICS: tuple[RecordedMetric, ...] = (
    RecordedMetric(
        "requests",
        "istio_requests_total",
        ("reporter", "response_code", "grpc_response_status", "response_flags", _SECURITY),
    ),
    RecordedMetric("duration_buckets", "istio_request_duration_milliseconds_bucket", ("reporter", "le"), True),
    RecordedMetric("duration_sum", "istio_request_duration_milliseconds_sum", ("reporter",), True),
    RecordedMetric("tcp_sent", "istio_tcp_sent_bytes_total", ("reporter", "response_flags", _SECURITY)),
    RecordedMetric("tcp_received", "istio_tcp_received_bytes_total", ("reporter", "response_flags", _SECURITY)),
)
RECORDED_BY_KEY = {metric.key: metric for metric in RECORDED_METRICS}


def window_for(window_s: int) -> RecordedWindow | None:
    """The recorded window of exactly ``window_s`` seconds, or ``None``."""
    return next((window for window in WINDOWS if window.window_s == window_s), None)


def _expression(metric: RecordedMetric, window: RecordedWindow, scope_labels: Sequence[str]) -> str:
    by = ",".join(check_label_name(label) for label in (EDGE_LABEL, *metric.kept, *NAMESPACE_LABELS, *scope_labels))
    joined = ",".join(quote(label) for label in IDENTITY_LABELS)

    def term(matchers: str) -> str:
        series = f"{metric.metric}{{{matchers}}}" if matchers else metric.metric
        rate = f"rate({series}[{window.window_s}s])"
        return f"sum by ({by}) (label_join({rate},{quote(EDGE_LABEL)},{quote(EDGE_SEPARATOR)},{joined}))"

    if not metric.histogram_sides:
        return term("")
    destination = term('reporter=~"destination|waypoint"')
    unknown = term('reporter="source",destination_workload="unknown"')
    return f"{destination} or {unknown}"


def render_rules(scope_labels: Iterable[str] = ()) -> str:
    """The recording rules as a Prometheus rule file (YAML text), one group per window.

    ``scope_labels`` are the label names of ``MESHUI_PROMETHEUS_SCOPE`` (e.g. ``mesh_id``): the
    recorded series must keep them, or the reader's scoped selectors would match none of them.
    Raises ``ValueError`` for a bad label name.
    """
    scope = tuple(check_label_name(label) for label in scope_labels)
    lines = [
        "# meshui recording rules for large meshes (generated by `manage.py prometheus_rules`; do not edit).",
        "#",
        "# meshui reads the graph from these series automatically when Prometheus records them",
        "# (checked every few minutes, per metric); any other window, a missing rule or stale",
        "# recorded data is read raw. See docs/operations.md, \"Recording rules\".",
        "# Load with:  rule_files: [prometheus-rules.yaml]",
        "# Check with: promtool check rules prometheus-rules.yaml",
    ]
    if scope:
        lines.append(f"# Scope labels kept: {', '.join(scope)}")
    lines.append("groups:")
    for window in WINDOWS:
        lines += [f"  - name: meshui-istio-{window.suffix}", f"    interval: {window.interval_s}s", "    rules:"]
        for metric in RECORDED_METRICS:
            lines.append(f"      - record: {metric.recorded_name(window)}")
            lines.append(f"        expr: {_yaml_string(_expression(metric, window, scope))}")
    return "\n".join(lines) + "\n"


def _yaml_string(text: str) -> str:
    """``text`` as a single-quoted YAML scalar (the expressions hold double quotes and ``\\n``)."""
    return "'" + text.replace("'", "''") + "'"
