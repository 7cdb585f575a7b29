// Unit tests of number formats, edge labels and the URL view: node --test static/js/tests/
import assert from "node:assert/strict";
import { test } from "node:test";

import { edgeLabel, formatAge, formatBytesRate, formatMs, formatPercent, formatRate } from "../graph/format.js";
import { apiQuery, DEFAULT_VIEW, searchFromView, subscribeView, viewFromSearch } from "../graph/urlstate.js";

test("test_rates_percentages_and_durations", () => {
  assert.equal(formatRate(4.25), "4.25/s");
  assert.equal(formatRate(0.004), "<0.01/s");
  assert.equal(formatRate(12500), "12.5k/s");
  assert.equal(formatPercent(0.025), "2.5%");
  assert.equal(formatPercent(0.5), "50%");
  assert.equal(formatPercent(0.0001), "<0.1%");
  assert.equal(formatMs(442.1), "442ms");
  assert.equal(formatMs(1500), "1.5s");
  assert.equal(formatBytesRate(2560), "2.56kB/s");
  assert.equal(formatAge(3.4), "3 s ago");
  assert.equal(formatAge(125), "2 min ago");
});

test("test_edge_labels_by_mode", () => {
  const e = { protocol: "http", request_rate: 1, error_rate: 0.1, latency_ms: { p50: 5, p95: 442.1, p99: 612 }, tcp_sent_bytes_per_s: null, tcp_received_bytes_per_s: null };
  assert.equal(edgeLabel(e, "rate"), "1/s");
  assert.equal(edgeLabel(e, "share", 4), "25%");
  assert.equal(edgeLabel(e, "error"), "10%");
  assert.equal(edgeLabel(e, "p95"), "442ms");
  assert.equal(edgeLabel(e, "tcp"), "");
  assert.equal(edgeLabel(e, "none"), "");
  const tcp = { protocol: "tcp", request_rate: 0, error_rate: 0, latency_ms: null, tcp_sent_bytes_per_s: 2000, tcp_received_bytes_per_s: 560 };
  assert.equal(edgeLabel(tcp, "rate"), "2.56kB/s");
});

test("test_view_round_trips_through_the_url", () => {
  const view = { ...DEFAULT_VIEW, namespaces: ["shop", "pay"], graphType: "app", window: "1h", find: "error > 1%", queryTime: 1700000100 };
  const search = searchFromView(view);
  assert.equal(search, "?namespaces=pay%2Cshop&graph_type=app&window=1h&find=error+%3E+1%25&query_time=1700000100");
  assert.deepEqual(viewFromSearch(search), { ...view, namespaces: ["pay", "shop"] });
});

test("test_defaults_leave_the_url_empty_and_bad_values_fall_back", () => {
  assert.equal(searchFromView(DEFAULT_VIEW), "");
  const view = viewFromSearch("?graph_type=bogus&refresh=7s&layout=spiral");
  assert.equal(view.graphType, "workload");
  assert.equal(view.refresh, "15s");
  assert.equal(view.layout, "auto");
});

test("test_api_query_and_subscribe_frame_follow_the_contracts", () => {
  const view = { ...DEFAULT_VIEW, namespaces: ["shop"], idle: true };
  assert.equal(apiQuery(view), "namespaces=shop&graph_type=workload&window=5m&include_idle=true");
  assert.deepEqual(subscribeView(DEFAULT_VIEW), { namespaces: null, graph_type: "workload", window: "5m", include_idle: false, inject_service_nodes: false });
});
