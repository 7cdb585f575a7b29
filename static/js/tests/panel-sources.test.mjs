// Unit tests of what the side panel reads: the range series of its sparklines and the ends of an
// edge's trace search. node --test static/js/tests/
import assert from "node:assert/strict";
import { test } from "node:test";

import { describeMatch, pickSeries, sparkSource, sparkStepS, traceNarrowing } from "../graph/panel.js";

const nodes = new Map([
  ["pp", { id: "pp", kind: "workload", name: "productpage-v1", namespace: "bookinfo", workload: "productpage-v1", app: "productpage", version: "v1" }],
  ["rv2", { id: "rv2", kind: "workload", name: "reviews-v2", namespace: "bookinfo", workload: "reviews-v2", app: "reviews", version: "v2" }],
  ["gw", { id: "gw", kind: "workload", name: "istio-ingressgateway", namespace: "istio-system", workload: "istio-ingressgateway", app: "istio-ingressgateway" }],
  ["va-pp", { id: "va-pp", kind: "app", name: "productpage v1", namespace: "bookinfo", app: "productpage", version: "v1" }],
  ["va-rv", { id: "va-rv", kind: "app", name: "reviews v2", namespace: "bookinfo", app: "reviews", version: "v2" }],
  ["svc", { id: "svc", kind: "service", name: "reviews", namespace: "bookinfo", service: "reviews" }],
  ["ext", { id: "ext", kind: "unknown", name: "unknown", namespace: "unknown" }],
]);
const inbound = (id) => (id === "gw" ? 0 : 2);

test("test_a_workload_edge_reads_its_targets_inbound_series_from_its_source_workload", () => {
  const source = sparkSource({ group: "edges", id: "e", edge: { source: "pp", target: "rv2" } }, nodes, inbound);
  assert.deepEqual(source, {
    entity: { kinds: "workloads", namespace: "bookinfo", name: "reviews-v2" },
    direction: "inbound", by: "source_workload", pick: "productpage-v1",
    spans: "Requests from productpage-v1 to reviews-v2",
  });
});

test("test_an_edge_into_a_version_reads_that_version_from_every_caller", () => {
  const source = sparkSource({ group: "edges", id: "e", edge: { source: "va-pp", target: "va-rv" } }, nodes, inbound);
  assert.equal(source.entity.kinds, "apps");
  assert.equal(source.by, "destination_version");
  assert.equal(source.pick, "v2");
  assert.equal(source.spans, "Requests to reviews v2 from every caller");
});

test("test_a_node_nothing_calls_reads_its_outbound_series", () => {
  const source = sparkSource({ group: "nodes", id: "gw" }, nodes, inbound);
  assert.equal(source.direction, "outbound");
  assert.equal(source.spans, "Requests from istio-ingressgateway");
  assert.equal(sparkSource({ group: "nodes", id: "svc" }, nodes, inbound).entity.kinds, "services");
  assert.equal(sparkSource({ group: "nodes", id: "ext" }, nodes, inbound), null);
});

test("test_the_picked_series_is_the_selections_share_or_the_total", () => {
  const body = { series: { request_rate: [
    { labels: { source_workload: "details-v1" }, points: [[1, 9], [2, 9]] },
    { labels: { source_workload: "productpage-v1" }, points: [[1, 2], [2, null]] },
  ] } };
  assert.deepEqual(pickSeries(body, "request_rate", "source_workload", "productpage-v1"), { t: [1, 2], values: [2, null] });
  assert.deepEqual(pickSeries({ series: { request_rate: [{ labels: {}, points: [[1, 3]] }] } }, "request_rate", "", null), { t: [1], values: [3] });
  assert.deepEqual(pickSeries(body, "error_rate", "", null), { t: [], values: [] });
  assert.equal(sparkStepS(300), 15);
  assert.equal(sparkStepS(3600), 60);
});

test("test_trace_searches_narrow_each_end_as_far_as_the_node_goes", () => {
  assert.deepEqual(traceNarrowing(nodes.get("rv2"), "target"), ["target_workload", "reviews-v2"]);
  assert.deepEqual(traceNarrowing(nodes.get("va-rv"), "target"), ["target_version", "v2"]);
  assert.equal(traceNarrowing(nodes.get("svc"), "source"), null);
  const params = new URLSearchParams({ source: "bookinfo/productpage", target_workload: "reviews-v2" });
  assert.equal(describeMatch("workload", params, "target"), "workload reviews-v2");
  assert.equal(describeMatch("app", params, "source"), "app productpage");
});
