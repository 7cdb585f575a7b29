"""PromQL builders: hostile values stay inside their string literal."""

from __future__ import annotations

import pytest

from metrics.promql import escape_label_value, matcher, re2_escape, regex_alternation, scoped, selector
from metrics.reader import PrometheusTelemetrySource, deduped_query, rate_query
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
        rate_query("m", ("a", "b"), 600, None, 'mesh_id="x"') == 'sum by (a,b) (rate(m{mesh_id="x"}[600s]))'
    )


def test_rate_query_narrowed_by_namespaces_uses_one_alternation_per_selector():
    query = rate_query("m", ("a",), 60, frozenset({"pay", "shop"}), "")
    assert query == (
        'sum by (a) (rate(m{destination_service_namespace=~"pay|shop"}[60s])'
        ' or rate(m{destination_workload_namespace=~"pay|shop"}[60s])'
        ' or rate(m{source_workload_namespace=~"pay|shop"}[60s]))'
    )


def test_rate_query_rejects_non_positive_window():
    with pytest.raises(ValueError, match="window_s"):
        rate_query("m", ("a",), 0, None, "")


def test_plan_is_five_queries_whatever_the_namespaces():
    # given a reader (its client is never called here)
    from metrics.client import PrometheusClient

    reader = PrometheusTelemetrySource(PrometheusClient("http://127.0.0.1:9", scope=""))
    many = frozenset(f"ns{i}" for i in range(50))
    # then the plan has five queries for no, one or fifty namespaces
    assert [len(reader.queries(window_s=60, namespaces=n)) for n in (None, frozenset({"a"}), many)] == [
        5,
        5,
        5,
    ]


def test_deduped_query_prefers_the_destination_side_per_identity():
    # given a metric, the labels kept beside the identity and the ones the dedupe ignores
    query = deduped_query("m", ("reporter", "le"), ("reporter", "le"), 60, None, 'mesh_id="x"', compact=False)
    # then the destination side comes first and the source side fills the identities it lacks
    assert query == (
        'sum by (reporter,le) (rate(m{reporter=~"destination|waypoint",mesh_id="x"}[60s]))'
        ' or ignoring(reporter,le) '
        'sum by (reporter,le) (rate(m{reporter="source",mesh_id="x"}[60s]))'
    )


def test_compact_query_joins_the_identity_into_one_label():
    query = deduped_query("m", ("reporter",), ("reporter",), 60, frozenset({"pay"}), "")
    joined = ",".join(f'"{label}"' for label in IDENTITY_LABELS)
    destination = (
        'rate(m{reporter=~"destination|waypoint",destination_service_namespace=~"pay"}[60s])'
        ' or rate(m{reporter=~"destination|waypoint",destination_workload_namespace=~"pay"}[60s])'
        ' or rate(m{reporter=~"destination|waypoint",source_workload_namespace=~"pay"}[60s])'
    )
    source = destination.replace('reporter=~"destination|waypoint"', 'reporter="source"')
    assert query == (
        f'sum by (meshui_edge,reporter) (label_join({destination},"meshui_edge","\\n",{joined}))'
        f' or ignoring(reporter) '
        f'sum by (meshui_edge,reporter) (label_join({source},"meshui_edge","\\n",{joined}))'
    )


def test_deduped_query_rejects_non_positive_window_and_bad_label():
    with pytest.raises(ValueError, match="window_s"):
        deduped_query("m", ("reporter",), ("reporter",), 0, None, "")
    with pytest.raises(ValueError, match="label name"):
        deduped_query("m", ("reporter) or vector(1",), ("reporter",), 60, None, "")
