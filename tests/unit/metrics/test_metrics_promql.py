"""PromQL builders: hostile values stay inside their string literal."""

from __future__ import annotations

import re

import pytest

from metrics.parse import EDGE_LABEL
from metrics.promql import escape_label_value, matcher, re2_escape, regex_alternation, scoped, selector
from metrics.reader import (
    PrometheusTelemetrySource,
    deduped_query,
    namespace_branches,
    rate_query,
    source_only_workloads,
)
from metrics.rules import NAMESPACE_LABELS, RECORDED_METRICS, WINDOWS
from topology.graph.telemetry import IDENTITY_LABELS


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain", "plain"),
        ('"} or vector(1) #', '\\"} or vector(1) #'),
        ("back\\slash", "back\\\\slash"),
        ("new\nline\ttab\rcr", "new\\nline\\ttab\\rcr"),
        ("bell\x07del\x7f", "bell\\x07del\\x7f"),
        ("ünïcødé ✓ 日本", "ünïcødé ✓ 日本"),
        ("line\u2028sep\u200bzw", "line\\u2028sep\\u200bzw"),
        ("private\U000f0000", "private\\U000f0000"),
    ],
)
def test_escape_label_value_writes_go_string_escapes(value, escaped):
    # when escaping a value, then the Go/PromQL escapes are used and printable text is kept
    assert escape_label_value(value) == escaped


def test_escape_label_value_rejects_lone_surrogate():
    with pytest.raises(ValueError, match="lone surrogate"):
        escape_label_value("a\ud800b")


def test_matcher_quotes_hostile_value():
    # when building a matcher from a value that tries to close the selector
    built = matcher("app", "=", '"} or vector(1) #')
    # then the value stays one string literal
    assert built == 'app="\\"} or vector(1) #"'


@pytest.mark.parametrize(("label", "op"), [("bad-label", "="), ("1x", "="), ("app", "=="), ("app", "~")])
def test_matcher_rejects_bad_label_or_operator(label, op):
    with pytest.raises(ValueError, match="not a"):
        matcher(label, op, "v")


def test_re2_escape_matches_go_quotemeta_set():
    assert (
        re2_escape("a.b+c*d?e(f)g|h[i]j{k}l^m$n\\o-p#q r")
        == "a\\.b\\+c\\*d\\?e\\(f\\)g\\|h\\[i\\]j\\{k\\}l\\^m\\$n\\\\o-p#q r"
    )


def test_regex_alternation_sorts_dedupes_and_escapes():
    assert regex_alternation(["b.c", "a", "b.c"]) == "a|b\\.c"


def test_regex_alternation_refuses_nothing():
    with pytest.raises(ValueError, match="at least one value"):
        regex_alternation([])


def test_regex_matcher_escapes_twice():
    # a regex metacharacter and a backslash: regex-escaped, then string-escaped
    assert matcher("ns", "=~", regex_alternation(["a.b\\"])) == 'ns=~"a\\\\.b\\\\\\\\"'


def test_scoped_appends_scope_to_matchers():
    assert scoped(['a="1"'], 'mesh_id="m",cluster=~"eu-.*"') == 'a="1",mesh_id="m",cluster=~"eu-.*"'
    assert scoped([], "") == ""
    assert selector("istio_requests_total", [], 'mesh_id="m"') == 'istio_requests_total{mesh_id="m"}'
    assert selector("up") == "up"


def test_selector_rejects_bad_metric_name():
    with pytest.raises(ValueError, match="metric name"):
        selector("up{} or vector(1)")


def test_rate_query_mesh_wide():
    assert (
        rate_query("m", ("a", "b"), 600, None, 'mesh_id="x"') == '(sum by (a,b) (rate(m{mesh_id="x"}[600s])))'
    )


def test_one_namespace_narrows_with_equality_matchers_in_disjoint_branches():
    # when narrowing to one namespace
    branches = namespace_branches(["pay"])
    # then each branch uses equality (index lookups) and excludes what the earlier ones took
    assert branches == [
        ('destination_service_namespace="pay"',),
        ('destination_service_namespace!="pay"', 'source_workload_namespace="pay"'),
        (
            'destination_service_namespace!="pay"',
            'source_workload_namespace!="pay"',
            'destination_workload_namespace="pay"',
        ),
    ]


def test_several_namespaces_narrow_with_one_alternation_per_matcher():
    branches = namespace_branches(["shop", "pay"])
    assert branches[0] == ('destination_service_namespace=~"pay|shop"',)
    assert branches[2][:2] == ('destination_service_namespace!~"pay|shop"', 'source_workload_namespace!~"pay|shop"')


def test_no_namespaces_is_one_unnarrowed_branch():
    assert namespace_branches(None) == [()]
    assert namespace_branches([]) == [()]


def test_rate_query_aggregates_each_branch_before_the_or():
    query = rate_query("m", ("a",), 60, frozenset({"pay"}), "")
    assert query == (
        '(sum by (a) (rate(m{destination_service_namespace="pay"}[60s]))'
        ' or sum by (a) (rate(m{destination_service_namespace!="pay",source_workload_namespace="pay"}[60s]))'
        ' or sum by (a) (rate(m{destination_service_namespace!="pay",source_workload_namespace!="pay",'
        'destination_workload_namespace="pay"}[60s])))'
    )


def test_rate_query_rejects_non_positive_window():
    with pytest.raises(ValueError, match="window_s"):
        rate_query("m", ("a",), 0, None, "")


def reader(scope: str = "") -> PrometheusTelemetrySource:
    from metrics.client import PrometheusClient

    return PrometheusTelemetrySource(PrometheusClient("http://127.0.0.1:9", scope=scope))


def test_plan_is_five_queries_whatever_the_namespaces():
    many = frozenset(f"ns{i}" for i in range(50))
    assert [len(reader().queries(window_s=60, namespaces=n)) for n in (None, frozenset({"a"}), many)] == [5, 5, 5]


def test_histograms_read_the_destination_side_and_unknown_destinations_only():
    # given the plan of a whole-mesh read
    plan = {q.name: q.promql for q in reader().plan(window_s=60, namespaces=None)}
    # then neither bucket half nor the sums read a source report of a known destination workload
    for name in ("buckets_low", "buckets_high", "duration_sum"):
        selectors = [part.split("[60s]")[0] for part in plan[name].split("rate(")[1:]]
        assert len(selectors) == 2
        assert 'reporter=~"destination|waypoint"' in selectors[0]
        assert 'reporter="source",destination_workload="unknown"' in selectors[1]
    # and the two halves split the bounds with one regex, complementary
    low = '"(0\\\\.5|1|5|10|25|50|100|250|500|1000)(\\\\.0+)?"'
    assert f"le=~{low}" in plan["buckets_low"]
    assert f"le!~{low}" in plan["buckets_high"]


def test_requests_read_both_sides_once_each():
    plan = {q.name: q.promql for q in reader().plan(window_s=60, namespaces=None)}
    assert plan["requests"].count("rate(") == 2
    assert " or ignoring(reporter,connection_security_policy) " in plan["requests"]


def test_recorded_fields_read_recorded_series_without_rate():
    # given requests and buckets recorded at the 5m window
    plan = {
        q.name: q.promql
        for q in reader().plan(
            window_s=300, namespaces=frozenset({"pay"}), recorded=frozenset({"requests", "duration_buckets"})
        )
    }
    # then those queries select the recorded series, narrowed the same way, with no rate() or join
    assert "rate(" not in plan["requests"]
    recorded = (
        'meshui:istio_requests_total:rate5m{reporter=~"destination|waypoint",'
        'destination_service_namespace="pay"}'
    )
    assert recorded in plan["requests"]
    assert "meshui:istio_request_duration_milliseconds_bucket:rate5m{" in plan["buckets_low"]
    assert "label_join" not in plan["buckets_high"]
    # and the others stay raw
    assert "rate(istio_request_duration_milliseconds_sum{" in plan["duration_sum"]


@pytest.mark.parametrize("namespaces", [None, frozenset({"pay"}), frozenset({"pay", "shop"})])
def test_recorded_selectors_match_only_labels_the_rules_keep(namespaces):
    # given every field recorded at the 5m window
    every = frozenset(metric.key for metric in RECORDED_METRICS)
    plan = reader().plan(window_s=300, namespaces=namespaces, recorded=every)
    kept_by_name = {
        metric.recorded_name(WINDOWS[1]): {EDGE_LABEL, *metric.kept, *NAMESPACE_LABELS} for metric in RECORDED_METRICS
    }
    # then each selector of a recorded series names only labels those series carry (a matcher
    # on a dropped label, e.g. destination_workload="unknown", would select nothing at all)
    selectors = [s for q in plan for s in re.findall(r"(meshui:[\w:]+)\{([^}]*)\}", q.promql)]
    assert selectors
    for name, body in selectors:
        labels = set(re.findall(r'(\w+)(?:=~|!~|!=|=)"', body))
        assert labels <= kept_by_name[name], (name, labels - kept_by_name[name])


def test_a_window_without_rules_reads_raw_even_when_asked_for_recorded():
    plan = reader().plan(window_s=600, namespaces=None, recorded=frozenset({"requests"}))
    assert "meshui:" not in " ".join(q.promql for q in plan)


def test_source_fallback_narrows_by_destination_workload():
    query = reader().source_fallback({("pay", "ledger-v1")}, window_s=60).promql
    assert 'reporter="source"' in query
    assert '__name__=~"istio_request_duration_milliseconds_(bucket|sum)"' in query
    assert 'destination_workload=~"ledger-v1",destination_workload_namespace=~"pay"' in query


def test_source_only_workloads_are_edges_the_destination_never_reported():
    from topology.graph.telemetry import Sample

    def ident(dest_workload: str) -> tuple[str, ...]:
        values = dict.fromkeys(IDENTITY_LABELS, "x")
        values["destination_workload"] = dest_workload
        values["destination_workload_namespace"] = "pay"
        return tuple(values[name] for name in IDENTITY_LABELS)

    samples = [
        Sample({"reporter": "source"}, 1.0, ident("both-v1")),
        Sample({"reporter": "destination"}, 1.0, ident("both-v1")),
        Sample({"reporter": "source"}, 1.0, ident("silent-v1")),
        Sample({"reporter": "source"}, 1.0, ident("unknown")),
    ]
    assert source_only_workloads(samples) == {("pay", "silent-v1")}


def test_deduped_query_prefers_the_destination_side_per_identity():
    # given a metric, the labels kept beside the identity and the ones the dedupe ignores
    query = deduped_query("m", ("reporter", "le"), ("reporter", "le"), 60, None, 'mesh_id="x"', compact=False)
    # then the destination side comes first and the source side fills the identities it lacks
    assert query == (
        '(sum by (reporter,le) (rate(m{reporter=~"destination|waypoint",mesh_id="x"}[60s])))'
        " or ignoring(reporter,le) "
        '(sum by (reporter,le) (rate(m{reporter="source",mesh_id="x"}[60s])))'
    )


def test_compact_query_joins_the_identity_into_one_label():
    query = deduped_query("m", ("reporter",), ("reporter",), 60, None, "")
    joined = ",".join(f'"{label}"' for label in IDENTITY_LABELS)
    assert query == (
        f'(sum by (meshui_edge,reporter) (label_join(rate(m{{reporter=~"destination|waypoint"}}[60s]),'
        f'"meshui_edge","\\n",{joined})))'
        " or ignoring(reporter) "
        f'(sum by (meshui_edge,reporter) (label_join(rate(m{{reporter="source"}}[60s]),"meshui_edge","\\n",{joined})))'
    )


def test_deduped_query_rejects_non_positive_window_and_bad_label():
    with pytest.raises(ValueError, match="window_s"):
        deduped_query("m", ("reporter",), ("reporter",), 0, None, "")
    with pytest.raises(ValueError, match="label name"):
        deduped_query("m", ("reporter) or vector(1",), ("reporter",), 60, None, "")
