"""The recorded-series probe: what it finds, how long it trusts it, and the selections it widens."""

from __future__ import annotations

import threading

from metrics.client import QueryResult
from metrics.reader import (
    WHOLE_MESH_SHARE,
    PrometheusTelemetrySource,
    RecordedCheck,
    RecordedSeriesProbe,
)
from metrics.rules import RECORDED_METRICS, WINDOWS
from topology.graph.telemetry import Sample

NOW = 1_800_000_000.0
WINDOW = WINDOWS[0]  # 1m, evaluated every 30 s
EVERY_FIELD = frozenset(metric.key for metric in RECORDED_METRICS)


class FakeClient:
    """Answers the probe's one query with fresh recorded series and the namespaces given."""

    scope = ""
    timeout_s = 5.0

    def __init__(self, namespaces: list[dict[str, str]], age_s: float = 10.0) -> None:
        self.namespaces = namespaces
        self.age_s = age_s
        self.queries: list[tuple[str, float]] = []
        self.answered = threading.Event()
        self.hold = threading.Event()
        self.hold.set()

    def query(self, promql: str, *, time: float, deadline: float | None = None) -> QueryResult:
        self.hold.wait(5)
        self.queries.append((promql, time))
        samples = [
            Sample({"meshui_recorded": metric.recorded_name(WINDOW)}, time - self.age_s) for metric in RECORDED_METRICS
        ]
        samples += [Sample(labels, 1.0) for labels in self.namespaces]
        self.answered.set()
        return QueryResult("vector", samples=samples)


def probe_with(client: FakeClient, clock: list[float]) -> RecordedSeriesProbe:
    return RecordedSeriesProbe(client, recheck_s=120, clock=lambda: clock[0])  # type: ignore[arg-type]


def test_the_probe_finds_the_fresh_fields_and_the_namespaces_in_one_query():
    # given recorded requests naming three namespaces (and the unknown source)
    client = FakeClient([
        {"destination_service_namespace": "pay"},
        {"source_workload_namespace": "shop"},
        {"destination_workload_namespace": "ledger"},
        {"source_workload_namespace": "unknown"},
    ])  # fmt: skip
    # when a live read asks
    check = probe_with(client, [NOW]).lookup(WINDOW.window_s, NOW - 5)
    # then every field is recorded, the real namespaces are known, and it took one query
    assert check.fields == EVERY_FIELD
    assert check.namespaces == {"pay", "shop", "ledger"}
    assert len(client.queries) == 1
    assert "group by (destination_service_namespace)" in client.queries[0][0]


def test_stale_recorded_series_count_as_not_recorded_and_name_no_namespaces():
    # given recorded series whose newest sample is older than two evaluations and some
    client = FakeClient([{"destination_service_namespace": "pay"}], age_s=WINDOW.max_age_s + 1)
    check = probe_with(client, [NOW]).lookup(WINDOW.window_s, NOW)
    assert check == RecordedCheck(frozenset(), frozenset())


def test_an_expired_answer_is_served_while_one_check_runs_in_the_background():
    client = FakeClient([{"destination_service_namespace": "pay"}])
    clock = [NOW]
    probe = probe_with(client, clock)
    probe.lookup(WINDOW.window_s, NOW)
    # given the answer expired a moment ago and the next check is slow
    clock[0] = NOW + 121
    client.hold.clear()
    client.answered.clear()
    # when two reads ask meanwhile
    first = probe.lookup(WINDOW.window_s, clock[0])
    second = probe.lookup(WINDOW.window_s, clock[0])
    # then both get the previous answer at once, and only one check was started
    assert first.fields == second.fields == EVERY_FIELD
    assert len(client.queries) == 1
    client.hold.set()
    assert client.answered.wait(5)
    # and once it is back, the new answer is cached for another recheck_s
    for _ in range(50):
        if not probe._refreshing:
            break
        threading.Event().wait(0.02)
    assert len(client.queries) == 2
    assert probe.lookup(WINDOW.window_s, clock[0]).fields == EVERY_FIELD
    assert len(client.queries) == 2


def test_an_answer_expired_longer_than_two_evaluations_is_checked_again_before_the_read():
    client = FakeClient([])
    clock = [NOW]
    probe = probe_with(client, clock)
    probe.lookup(WINDOW.window_s, NOW)
    clock[0] = NOW + 120 + WINDOW.max_age_s + 1
    probe.lookup(WINDOW.window_s, clock[0])
    # then the read waited for its own check (no background thread involved)
    assert len(client.queries) == 2
    assert client.queries[1][1] == clock[0]


def check_of(*namespaces: str, fields: frozenset[str] = EVERY_FIELD) -> RecordedCheck:
    return RecordedCheck(fields, frozenset(namespaces))


def test_most_of_a_recorded_mesh_is_read_whole_and_a_small_selection_is_selected():
    mesh = check_of(*(f"ns-{i}" for i in range(10)))
    widen = PrometheusTelemetrySource.selection_read
    half = frozenset(f"ns-{i}" for i in range(int(10 * WHOLE_MESH_SHARE)))
    assert widen(half, mesh) is None
    assert widen(frozenset({"ns-1", "ns-2"}), mesh) == {"ns-1", "ns-2"}
    # namespaces the recorded series never name do not count towards the share
    assert widen(frozenset({"ns-1", *(f"other-{i}" for i in range(20))}), mesh) is not None
    assert widen(None, mesh) is None


def test_a_selection_is_never_widened_when_a_metric_is_read_raw():
    partly = check_of("pay", "shop", fields=EVERY_FIELD - {"duration_buckets"})
    assert PrometheusTelemetrySource.selection_read(frozenset({"pay", "shop"}), partly) == {"pay", "shop"}
    assert PrometheusTelemetrySource.selection_read(frozenset({"pay"}), check_of()) == {"pay"}
