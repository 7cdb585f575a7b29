// Unit tests of the graph's routing-change note (static/js/traffic/recent.js): node --test static/js/tests/
import assert from "node:assert/strict";
import { test } from "node:test";

import { changedServices, changeNote, changesQuery, latestChangeBefore, routedService, windowChangesQuery } from "../traffic/recent.js";

const T = Date.parse("2026-12-04T20:00:00Z") / 1000;
const change = (id, atS) => ({ id, namespace: "bookinfo", service: "reviews", time: new Date(atS * 1000).toISOString() });

test("test_a_change_inside_the_window_says_the_window_mixes_before_and_after", () => {
  assert.deepEqual(changeNote(change(3, T - 40), T, 300, "5m"), {
    ageS: 40, text: "routing changed 40 s ago — this 5m window mixes before and after", canNarrow: true,
  });
  assert.equal(changeNote(change(3, T - 40), T, 60, "1m").canNarrow, false);
  assert.equal(changeNote(change(3, T - 301), T, 300, "5m"), null);
  assert.equal(changeNote(null, T, 300, "5m"), null);
  assert.equal(changeNote(change(3, T - 120), T, 600, "10m", false).text,
    "routing changed 2 min before this view's time — this 10m window mixes before and after");
});

test("test_the_latest_change_is_the_newest_not_after_the_views_time", () => {
  const changes = [change(5, T + 30), change(4, T - 10), change(3, T - 90)];
  assert.equal(latestChangeBefore(changes, T).id, 4);
  assert.equal(latestChangeBefore([], T), null);
});

test("test_the_routed_service_is_a_nodes_own_or_an_edges_target", () => {
  const nodes = new Map([
    ["pp", { kind: "workload", namespace: "bookinfo", service: "productpage" }],
    ["rv", { kind: "app", namespace: "bookinfo", app: "reviews" }],
    ["x", { kind: "unknown", namespace: "unknown" }],
  ]);
  const edges = new Map([["e", { source: "pp", target: "rv" }]]);
  assert.deepEqual(routedService({ group: "edges", id: "e" }, nodes, edges), { namespace: "bookinfo", service: "reviews" });
  assert.deepEqual(routedService({ group: "nodes", id: "pp" }, nodes, edges), { namespace: "bookinfo", service: "productpage" });
  assert.equal(routedService({ group: "nodes", id: "x" }, nodes, edges), null);
  assert.equal(changesQuery({ namespace: "bookinfo", service: "reviews" }, 1000.5, 300),
    "/api/v1/changes?namespace=bookinfo&service=reviews&since=700&limit=20");
});

test("test_the_services_changed_in_the_window_keep_their_newest_change_not_after_the_views_time", () => {
  const other = { ...change(9, T - 5), service: "ratings" };
  const changed = changedServices([change(5, T + 30), other, change(4, T - 10), change(3, T - 90)], T);
  assert.deepEqual([...changed], [["bookinfo/ratings", T - 5], ["bookinfo/reviews", T - 10]]);
  assert.equal(changedServices([], T).size, 0);
  assert.equal(windowChangesQuery(T, 300), `/api/v1/changes?since=${T - 300}&limit=500`);
});
