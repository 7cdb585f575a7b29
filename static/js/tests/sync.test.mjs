// Unit tests of "last synced N s ago" (traffic answers from the Kubernetes backend's read cache):
// node --test static/js/tests/
import assert from "node:assert/strict";
import { test } from "node:test";

import { loadRouting, routingStatusText } from "../graph/badges.js";
import { syncAgeS, syncNote } from "../traffic/sync.js";

const CACHED = { from_cache: true, sync_age_s: 12.4, synced_at: "2026-01-02T03:04:05Z" };

test("test_a_cached_answer_says_how_long_ago_it_synced", () => {
  assert.equal(syncNote(CACHED), "last synced 12 s ago");
  assert.equal(syncNote({ ...CACHED, sync_age_s: 125 }), "last synced 2 min ago");
  assert.equal(syncNote({ ...CACHED, sync_age_s: 7300 }), "last synced 2 h ago");
});

test("test_the_age_keeps_counting_after_the_answer_arrived", () => {
  // given an answer 12.4 s old when it arrived, shown 20 s later
  assert.equal(syncAgeS(CACHED, { elapsedS: 20 }), 32.4);
  assert.equal(syncNote(CACHED, { elapsedS: 20 }), "last synced 32 s ago");
});

test("test_a_fresh_answer_or_one_from_an_older_server_shows_nothing", () => {
  assert.equal(syncNote({ ...CACHED, from_cache: false }), "");
  assert.equal(syncNote({ version: "3", weights: {} }), "");
  assert.equal(syncNote(null), "");
  assert.equal(syncAgeS({ version: "3" }), null);
});

test("test_without_an_age_the_sync_time_is_used_and_without_either_the_cache_is_named", () => {
  const nowMs = Date.parse("2026-01-02T03:05:05Z");
  assert.equal(syncAgeS({ from_cache: true, synced_at: "2026-01-02T03:04:05Z" }, { nowMs }), 60);
  assert.equal(syncNote({ from_cache: true, synced_at: "2026-01-02T03:04:05Z" }, { nowMs }), "last synced 1 min ago");
  assert.equal(syncNote({ from_cache: true }), "served from a cache");
  assert.equal(syncNote({ from_cache: true, sync_age_s: "soon" }), "served from a cache");
});

test("test_the_routing_status_line_names_the_age_of_a_cached_config_read", () => {
  const two = new Map([["bookinfo/reviews", []], ["shop/cart", []]]);
  assert.equal(routingStatusText({ badges: new Map([["a/b", []]]), errors: [] }), "1 service with routing in view");
  assert.equal(routingStatusText({ badges: two, errors: [], syncAgeS: null }), "2 services with routing in view");
  assert.equal(routingStatusText({ badges: two, errors: [], syncAgeS: 3 }, 4), "2 services with routing in view · last synced 7 s ago");
  assert.equal(routingStatusText({ badges: two, errors: ["shop/cart: down"], syncAgeS: 3 }), "Routing not fully read: shop/cart: down");
});

test("test_load_routing_reports_the_oldest_cached_config_read", async () => {
  // given two namespaces, one answered from the cache 9 s old, one fresh
  const answers = {
    bookinfo: { resources: [], from_cache: true, sync_age_s: 9, synced_at: "2026-01-02T03:04:05Z" },
    shop: { resources: [], from_cache: false, sync_age_s: 0, synced_at: "2026-01-02T03:04:14Z" },
  };
  const api = { getIstioConfig: async (ns) => ({ ok: true, status: 200, body: answers[ns] }), getTraffic: async () => null };
  // when the routing is read, then the age is the cached one
  assert.equal((await loadRouting(["bookinfo", "shop"], api)).syncAgeS, 9);
  // and an older server, without the fields, gives none
  const old = { getIstioConfig: async () => ({ ok: true, status: 200, body: { resources: [] } }), getTraffic: async () => null };
  assert.equal((await loadRouting([], old)).syncAgeS, null);
});
