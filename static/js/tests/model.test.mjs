// Unit tests of the graph model (snapshots, deltas, traffic, history): node --test static/js/tests/
import assert from "node:assert/strict";
import { test } from "node:test";

import { GraphModel, isStructural } from "../graph/model.js";

function node(id, extra = {}) {
  return { id, kind: "workload", namespace: "shop", name: id, health: "healthy", is_gateway: false, ...extra };
}

function edge(id, source, target, extra = {}) {
  return {
    id, source, target, protocol: "http", request_rate: 4, error_rate: 0.25, client_error_rate: 0, responses: { 200: 3, 500: 1 },
    flags: { "-": 4 }, latency_ms: { p50: 10, p95: 90, p99: 120, avg: 20 }, tcp_sent_bytes_per_s: null,
    tcp_received_bytes_per_s: null, mtls_ratio: 1, health: "degraded", ...extra,
  };
}

function graph(nodes, edges, queryTime = 1000) {
  return { graph_type: "workload", window_s: 300, query_time: queryTime, namespaces: ["shop"], nodes, edges, warnings: [] };
}

test("test_snapshot_with_only_new_metrics_is_not_structural", () => {
  const model = new GraphModel();
  model.applySnapshot(graph([node("a"), node("b")], [edge("e", "a", "b")]));
  const changes = model.applySnapshot(graph([node("a"), node("b")], [edge("e", "a", "b", { request_rate: 9 })], 1015));
  assert.equal(isStructural(changes), false);
  assert.deepEqual(changes.edges.changed, [{ id: "e", request_rate: 9 }]);
});

test("test_snapshot_reports_added_and_removed_elements", () => {
  const model = new GraphModel();
  model.applySnapshot(graph([node("a"), node("b")], [edge("e", "a", "b")]));
  const changes = model.applySnapshot(graph([node("a"), node("c")], [edge("f", "a", "c")]));
  assert.equal(isStructural(changes), true);
  assert.deepEqual(changes.nodes.removed, ["b"]);
  assert.deepEqual(changes.nodes.added.map((n) => n.id), ["c"]);
  assert.deepEqual(changes.edges.removed, ["e"]);
});

test("test_delta_in_sequence_merges_changed_fields", () => {
  const model = new GraphModel();
  model.applySnapshot(graph([node("a"), node("b")], [edge("e", "a", "b")]), { seq: 41, viewKey: "k" });
  const changes = model.applyDelta({
    type: "delta", view_key: "k", seq: 42, query_time: 1015,
    nodes: { added: [node("c")], removed: [], changed: [{ id: "b", health: "failing" }] },
    edges: { added: [edge("f", "b", "c")], removed: [], changed: [{ id: "e", request_rate: 8 }] },
    warnings: [],
  });
  assert.equal(changes.gap, undefined);
  assert.equal(model.seq, 42);
  assert.equal(model.nodes.get("b").health, "failing");
  assert.equal(model.edges.get("e").request_rate, 8);
  assert.equal(model.edges.get("e").error_rate, 0.25);
  assert.deepEqual([...model.nodes.keys()], ["a", "b", "c"]);
  assert.equal(model.queryTime, 1015);
});

test("test_delta_after_a_gap_is_refused_untouched", () => {
  const model = new GraphModel();
  model.applySnapshot(graph([node("a")], []), { seq: 41, viewKey: "k" });
  const result = model.applyDelta({ view_key: "k", seq: 43, nodes: { removed: ["a"] }, edges: {} });
  assert.deepEqual(result, { gap: true });
  assert.equal(model.nodes.size, 1);
  assert.equal(model.seq, 41);
});

test("test_delta_without_a_websocket_snapshot_is_a_gap", () => {
  const model = new GraphModel();
  model.applySnapshot(graph([node("a")], []));
  assert.deepEqual(model.applyDelta({ view_key: "k", seq: 1, nodes: {}, edges: {} }), { gap: true });
});

test("test_removing_a_node_drops_its_edges", () => {
  const model = new GraphModel();
  model.applySnapshot(graph([node("a"), node("b")], [edge("e", "a", "b")]), { seq: 1, viewKey: "k" });
  const changes = model.applyDelta({ view_key: "k", seq: 2, nodes: { removed: ["b"] }, edges: {} });
  assert.deepEqual(changes.edges.removed, ["e"]);
  assert.equal(model.edges.size, 0);
});

test("test_node_traffic_weights_errors_by_rate", () => {
  const model = new GraphModel();
  model.applySnapshot(graph([node("a"), node("b"), node("c")], [
    edge("e1", "a", "c", { request_rate: 3, error_rate: 0, latency_ms: { p50: 5, p95: 50, p99: 60, avg: 9 } }),
    edge("e2", "b", "c", { request_rate: 1, error_rate: 1, latency_ms: { p50: 7, p95: 300, p99: 400, avg: 80 } }),
  ]));
  const t = model.nodeTraffic("c");
  assert.equal(t.inRate, 4);
  assert.equal(t.errorShare, 0.25);
  assert.equal(t.p95, 300);
  assert.equal(model.nodeTraffic("a").outRate, 3);
  assert.deepEqual(model.subject("nodes", "c").rt, 300);
});

test("test_history_keeps_one_point_per_query_time", () => {
  const model = new GraphModel();
  model.applySnapshot(graph([node("a"), node("b")], [edge("e", "a", "b")], 1000));
  model.applySnapshot(graph([node("a"), node("b")], [edge("e", "a", "b", { request_rate: 6 })], 1000));
  model.applySnapshot(graph([node("a"), node("b")], [edge("e", "a", "b", { request_rate: 8 })], 1015));
  assert.deepEqual(model.historyOf("edges:e").map((p) => [p.t, p.rate]), [[1000, 6], [1015, 8]]);
  assert.deepEqual(model.historyOf("nodes:b").map((p) => p.rate), [6, 8]);
});

test("test_delta_unset_removes_a_field_that_disappeared", () => {
  const model = new GraphModel();
  model.applySnapshot(graph([node("a"), node("b")], [edge("e", "a", "b", { grpc_responses: { 0: 4 } })]), { seq: 1, viewKey: "k" });
  model.applyDelta({
    type: "delta", view_key: "k", seq: 2, query_time: 1015,
    nodes: {}, edges: { changed: [{ id: "e", request_rate: 5, unset: ["grpc_responses"] }] }, warnings: [],
  });
  const after = model.edges.get("e");
  assert.equal(after.request_rate, 5);
  assert.equal("grpc_responses" in after, false);
  assert.equal("unset" in after, false);
});

test("test_a_snapshot_with_a_lower_seq_still_replaces_the_state", () => {
  const model = new GraphModel();
  model.applySnapshot(graph([node("a")], []), { seq: 40, viewKey: "k" });
  model.applySnapshot(graph([node("b")], []), { seq: 1, viewKey: "k" });
  assert.equal(model.seq, 1);
  assert.deepEqual([...model.nodes.keys()], ["b"]);
});
