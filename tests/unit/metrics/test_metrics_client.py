"""PrometheusClient: what it sends, and how each failure mode becomes a named error."""

from __future__ import annotations

import json
import time

import pytest

from metrics import client as client_module
from metrics.client import PrometheusClient, QueryEvent
from metrics.errors import (
    PrometheusNotConfigured,
    PrometheusQueryError,
    PrometheusQueryLimit,
    PrometheusUnavailable,
)
from tests.support.prometheus import free_port

TIMEOUT_S = 1.0
TOKEN = "s3cret-token-value"


def make_client(url: str, **kwargs: object) -> PrometheusClient:
    return PrometheusClient(url, timeout_s=TIMEOUT_S, **kwargs)


def test_query_posts_form_with_token_headers_and_user_agent(fake_prometheus):
    # given a client with a token and an extra tenant header
    client = make_client(fake_prometheus.url, token=TOKEN, headers={"X-Scope-OrgID": "team-a"})
    # when it runs an instant query
    client.query('up{job="a"}', time=1700000000.5)
    # then one form-encoded POST reached /api/v1/query carrying all of it
    [request] = fake_prometheus.requests
    assert request.path == "/api/v1/query"
    assert request.form == {"query": ['up{job="a"}'], "time": ["1700000000.500"]}
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["X-Scope-OrgID"] == "team-a"
    assert request.headers["User-Agent"].startswith("meshui/")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_url_path_prefix_is_kept(fake_prometheus):
    # given a Prometheus API behind a path prefix, written with a trailing slash
    client = make_client(fake_prometheus.url + "/prometheus/")
    # when querying
    client.query("vector(1)", time=1.0)
    # then the prefix is kept and no double slash appears
    assert fake_prometheus.requests[0].path == "/prometheus/api/v1/query"


def test_query_range_sends_start_end_step(fake_prometheus):
    # given a matrix answer
    fake_prometheus.answer_json(
        200,
        {
            "status": "success",
            "data": {"resultType": "matrix", "result": [{"metric": {"a": "b"}, "values": [[1, "2"]]}]},
        },
    )
    client = make_client(fake_prometheus.url)
    # when asking for a range
    result = client.query_range("up", start=100.0, end=200.0, step=15)
    # then the range parameters are sent and the series come back
    assert fake_prometheus.requests[0].path == "/api/v1/query_range"
    assert fake_prometheus.requests[0].form == {
        "query": ["up"],
        "start": ["100.000"],
        "end": ["200.000"],
        "step": ["15"],
    }
    assert result.series[0].labels == {"a": "b"}
    assert result.series[0].points == [(1.0, 2.0)]


def test_ca_file_is_used_to_verify_tls(fake_prometheus, tmp_path):
    # given a CA file
    ca = tmp_path / "ca.pem"
    ca.write_text("not used over plain http")
    client = make_client(fake_prometheus.url, ca_file=str(ca))
    # then it is what requests verifies against
    assert client._verify == str(ca)


def test_warnings_are_kept(fake_prometheus):
    # given Prometheus succeeds with warnings
    fake_prometheus.answer_json(
        200,
        {"status": "success", "warnings": ["partial data"], "data": {"resultType": "vector", "result": []}},
    )
    # when querying
    result = make_client(fake_prometheus.url).query("up", time=1.0)
    # then the warnings reach the result unchanged
    assert result.warnings == ["partial data"]
    assert result.samples == []


def test_connection_refused_is_unavailable_naming_host_not_token():
    # given nothing listens on the port
    port = free_port()
    client = make_client(f"http://user:pw@127.0.0.1:{port}", token=TOKEN)
    # when querying
    with pytest.raises(PrometheusUnavailable) as caught:
        client.query("up", time=1.0)
    # then the error names the cause and the host, never the secrets
    assert caught.value.reason == "connection_refused"
    assert caught.value.host == f"127.0.0.1:{port}"
    assert str(caught.value) == f"Prometheus at 127.0.0.1:{port} refused the connection"


def test_hanging_server_fails_within_timeout(fake_prometheus):
    # given a server that accepts the request and never answers
    fake_prometheus.reply.behaviour = "hang"
    client = make_client(fake_prometheus.url)
    started = time.monotonic()
    # when querying
    with pytest.raises(PrometheusUnavailable) as caught:
        client.query("up", time=1.0)
    # then the call fails as a timeout, bounded by the configured timeout
    assert caught.value.reason == "timeout"
    assert time.monotonic() - started < TIMEOUT_S + 1


def test_trickling_server_fails_within_timeout(fake_prometheus):
    # given a server that sends headers at once, then one byte every 0.2 s
    fake_prometheus.reply.body = (
        b'{"status":"success","data":{"resultType":"vector","result":[]}}' + b" " * 100
    )
    fake_prometheus.reply.behaviour = "trickle"
    client = make_client(fake_prometheus.url)
    started = time.monotonic()
    # when querying
    with pytest.raises(PrometheusUnavailable) as caught:
        client.query("up", time=1.0)
    # then the whole call is bounded although every single read makes progress
    assert caught.value.reason == "timeout"
    assert time.monotonic() - started < TIMEOUT_S + 1


def test_a_connection_broken_mid_answer_is_asked_once_more(fake_prometheus):
    # given a server whose first answer dies half-way (a keep-alive it had just dropped)
    fake_prometheus.reply.behaviour = "break_first"
    client = make_client(fake_prometheus.url)
    # when querying
    result = client.query("up", time=1.0)
    # then the query is sent again on a fresh connection and its answer is the result
    assert result.samples == []
    assert len(fake_prometheus.requests) == 2


def test_a_connection_that_keeps_breaking_is_unavailable_naming_why(fake_prometheus):
    # given a server that breaks every answer half-way
    fake_prometheus.reply.behaviour = "break_always"
    client = make_client(fake_prometheus.url)
    # when querying
    with pytest.raises(PrometheusUnavailable) as caught:
        client.query("up", time=1.0)
    # then it was asked twice, not more, and the error says what broke
    assert len(fake_prometheus.requests) == 2
    assert caught.value.reason == "connection_failed"
    assert str(caught.value).startswith(f"connection to Prometheus at {client.host} broke while reading the answer (")


def test_proxy_503_is_unavailable_with_status(fake_prometheus):
    # given a proxy in front of Prometheus answering 503 with HTML
    fake_prometheus.reply.status = 503
    fake_prometheus.reply.body = b"<html>upstream connect error</html>"
    fake_prometheus.reply.content_type = "text/html"
    # when querying
    with pytest.raises(PrometheusUnavailable) as caught:
        make_client(fake_prometheus.url).query("up", time=1.0)
    # then it is unavailable, naming the status
    assert caught.value.reason == "http_status"
    assert caught.value.status_code == 503
    assert "HTTP 503 (text/html)" in str(caught.value)


def test_proxy_401_is_unavailable_pointing_at_the_token(fake_prometheus):
    # given an auth proxy rejecting the token
    fake_prometheus.reply.status = 401
    fake_prometheus.reply.body = b"Unauthorized"
    fake_prometheus.reply.content_type = "text/plain"
    # when querying
    with pytest.raises(PrometheusUnavailable) as caught:
        make_client(fake_prometheus.url, token=TOKEN).query("up", time=1.0)
    # then the message names the variable to check, not its value
    assert "check MESHUI_PROMETHEUS_TOKEN" in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (400, "bad_data", 'invalid parameter "query": 1:5: parse error: unexpected end of input'),
        (422, "execution", "expanding series: something failed"),
    ],
)
def test_prometheus_error_keeps_type_and_message(fake_prometheus, status, error_type, message):
    # given Prometheus' own error envelope
    fake_prometheus.answer_json(status, {"status": "error", "errorType": error_type, "error": message})
    # when querying
    with pytest.raises(PrometheusQueryError) as caught:
        make_client(fake_prometheus.url).query("up", time=1.0)
    # then its type and message are kept as Prometheus wrote them
    assert type(caught.value) is PrometheusQueryError
    assert (caught.value.error_type, caught.value.error, caught.value.status_code) == (
        error_type,
        message,
        status,
    )


@pytest.mark.parametrize(
    ("error_type", "message", "limit"),
    [
        (
            "execution",
            "query processing would load too many samples into memory in query execution",
            "max_samples",
        ),
        (
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries."
            " Try decreasing the query resolution (?step=XX)",
            "max_resolution",
        ),
    ],
)
def test_prometheus_limits_are_query_limit(fake_prometheus, error_type, message, limit):
    # given Prometheus refusing a query for one of its limits
    fake_prometheus.answer_json(
        422 if error_type == "execution" else 400,
        {"status": "error", "errorType": error_type, "error": message},
    )
    # when querying
    with pytest.raises(PrometheusQueryLimit) as caught:
        make_client(fake_prometheus.url).query("up", time=1.0)
    # then the limit is named
    assert caught.value.limit == limit
    assert caught.value.error == message


def test_prometheus_evaluation_timeout_is_unavailable(fake_prometheus):
    # given Prometheus' own query timeout
    fake_prometheus.answer_json(
        503, {"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"}
    )
    # when querying
    with pytest.raises(PrometheusUnavailable) as caught:
        make_client(fake_prometheus.url).query("up", time=1.0)
    # then it is a retryable unavailability that keeps Prometheus' words
    assert caught.value.reason == "prometheus_timeout"
    assert "query timed out in expression evaluation" in str(caught.value)


def test_non_json_success_is_query_error(fake_prometheus):
    # given a 200 that is not an API answer (e.g. a login page)
    fake_prometheus.reply.body = b"<html>login</html>"
    fake_prometheus.reply.content_type = "text/html"
    # when querying
    with pytest.raises(PrometheusQueryError) as caught:
        make_client(fake_prometheus.url).query("up", time=1.0)
    # then it is a bad response, not a crash
    assert caught.value.error_type == "bad_response"
    assert (
        caught.value.error
        == "HTTP 200 from "
        + fake_prometheus.url.removeprefix("http://")
        + " is not a Prometheus API response (text/html)"
    )


def test_observers_see_every_call_and_counter_counts(fake_prometheus):
    # given an observer
    events: list[QueryEvent] = []
    client_module.add_observer(events.append)
    client = make_client(fake_prometheus.url)
    try:
        # when one call succeeds and one fails
        client.query("up", time=1.0)
        fake_prometheus.reply.status = 502
        fake_prometheus.reply.body = b"bad gateway"
        with pytest.raises(PrometheusUnavailable):
            client.query("up", time=1.0)
    finally:
        client_module.remove_observer(events.append)
    # then both were observed with their outcome, and counted
    assert [(e.endpoint, e.outcome) for e in events] == [("query", "ok"), ("query", "PrometheusUnavailable")]
    assert client.queries_sent == 2


def test_empty_url_is_not_configured():
    # when building a client without a URL
    with pytest.raises(PrometheusNotConfigured):
        PrometheusClient("")


def test_from_settings_reads_prometheus_settings(settings):
    # given Django settings naming a Prometheus
    settings.PROMETHEUS = {
        "URL": "http://prom.example:9090/",
        "TOKEN": TOKEN,
        "CA_FILE": "",
        "HEADERS": {"X-A": "b"},
        "TIMEOUT_S": 2.5,
        "SCOPE": 'mesh_id="m"',
    }
    # when building the client from them
    client = PrometheusClient.from_settings()
    # then every setting is used
    assert (client.url, client.host, client.timeout_s, client.scope) == (
        "http://prom.example:9090",
        "prom.example:9090",
        2.5,
        'mesh_id="m"',
    )
    assert client._headers["Authorization"] == f"Bearer {TOKEN}"
    assert client._headers["X-A"] == "b"


def test_ping_returns_seconds(fake_prometheus):
    # given a Prometheus answering vector(1)
    fake_prometheus.answer_json(
        200,
        {
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "1"]}]},
        },
    )
    # when pinging
    seconds = make_client(fake_prometheus.url).ping()
    # then a duration comes back and the query was the trivial one
    assert seconds >= 0
    assert fake_prometheus.requests[0].form["query"] == ["vector(1)"]


def test_error_body_is_json_serialisable_for_logs(fake_prometheus):
    # given an error with a non-ASCII message
    fake_prometheus.answer_json(400, {"status": "error", "errorType": "bad_data", "error": "ünïcødé"})
    with pytest.raises(PrometheusQueryError) as caught:
        make_client(fake_prometheus.url).query("up", time=1.0)
    # then the message round-trips
    assert json.loads(json.dumps(caught.value.error)) == "ünïcødé"
