// Unit tests of the traffic editor's weight arithmetic: node --test static/js/tests/
import assert from "node:assert/strict";
import { test } from "node:test";

import { apportion, compact, normalize, promote, rebalance, rollBack, setWeight, sortSubsets, splitEvenly, total } from "../traffic/weights.js";

const S = ["v1", "v2", "v3"];

test("test_apportion_keeps_the_exact_total_with_largest_remainders", () => {
  // given 100 over three equal shares, then over 1:1:2
  // then the remainder goes to the earliest subset and the total is exact
  assert.deepEqual(apportion(100, S), { v1: 34, v2: 33, v3: 33 });
  assert.deepEqual(apportion(10, S, { v1: 1, v2: 1, v3: 2 }), { v1: 3, v2: 2, v3: 5 });
  assert.deepEqual(apportion(7, []), {});
});

test("test_normalize_reads_no_routing_as_an_even_split", () => {
  assert.deepEqual(normalize({}, S), { v1: 34, v2: 33, v3: 33 });
  assert.deepEqual(normalize({ v1: 80, v2: 20 }, S), { v1: 80, v2: 20, v3: 0 });
  assert.deepEqual(normalize({ v1: 1, v2: 1 }, ["v1", "v2"]), { v1: 50, v2: 50 });
});

test("test_set_weight_spreads_the_rest_proportionally", () => {
  // given v1 50, v2 30, v3 20 when v1 goes to 80
  const next = setWeight({ v1: 50, v2: 30, v3: 20 }, S, "v1", 80);
  // then v2 and v3 share the 20 left in the ratio 3:2
  assert.deepEqual(next, { v1: 80, v2: 12, v3: 8 });
  assert.equal(total(next), 100);
});

test("test_set_weight_spreads_evenly_when_the_others_had_nothing", () => {
  assert.deepEqual(setWeight({ v1: 100 }, S, "v1", 40), { v1: 40, v2: 30, v3: 30 });
});

test("test_set_weight_respects_locks_and_clamps_to_what_they_leave", () => {
  // given v3 locked at 30
  const locked = new Set(["v3"]);
  // when v1 asks for 90, then it gets the 70 the lock leaves and v2 gets nothing
  assert.deepEqual(setWeight({ v1: 40, v2: 30, v3: 30 }, S, "v1", 90, locked), { v1: 70, v2: 0, v3: 30 });
  // when v1 goes to 10, then only v2 absorbs the change
  assert.deepEqual(setWeight({ v1: 40, v2: 30, v3: 30 }, S, "v1", 10, locked), { v1: 10, v2: 60, v3: 30 });
});

test("test_set_weight_moves_nothing_when_every_other_subset_is_locked", () => {
  const weights = { v1: 40, v2: 30, v3: 30 };
  assert.deepEqual(setWeight(weights, S, "v1", 90, new Set(["v2", "v3"])), weights);
  assert.deepEqual(setWeight({ v1: 100 }, ["v1"], "v1", 20), { v1: 100 });
});

test("test_set_weight_rounds_and_clamps_odd_input", () => {
  assert.deepEqual(setWeight({ v1: 50, v2: 50 }, ["v1", "v2"], "v1", 33.6), { v1: 34, v2: 66 });
  assert.deepEqual(setWeight({ v1: 50, v2: 50 }, ["v1", "v2"], "v1", 250), { v1: 100, v2: 0 });
  assert.deepEqual(setWeight({ v1: 50, v2: 50 }, ["v1", "v2"], "v1", "x"), { v1: 0, v2: 100 });
});

test("test_split_evenly_shares_what_the_locked_subsets_leave", () => {
  assert.deepEqual(splitEvenly({ v1: 100 }, S), { v1: 34, v2: 33, v3: 33 });
  assert.deepEqual(splitEvenly({ v1: 10, v2: 80, v3: 10 }, S, new Set(["v1"])), { v1: 10, v2: 45, v3: 45 });
  assert.deepEqual(splitEvenly({ v1: 10, v2: 80, v3: 10 }, S, new Set(S)), { v1: 10, v2: 80, v3: 10 });
});

test("test_promote_and_roll_back_send_everything_to_one_subset", () => {
  assert.deepEqual(promote(S, "v3"), { v1: 0, v2: 0, v3: 100 });
  assert.deepEqual(rollBack(S), { v1: 100, v2: 0, v3: 0 });
  assert.throws(() => promote(S, "v9"), RangeError);
});

test("test_compact_drops_zero_weights_and_sort_orders_versions_naturally", () => {
  assert.deepEqual(compact({ v1: 100, v2: 0, v3: 0 }), { v1: 100 });
  assert.deepEqual(sortSubsets(["v10", "v2", "v1"]), ["v1", "v2", "v10"]);
});

test("test_rebalance_scales_the_typed_weights_to_100_keeping_locked_ones", () => {
  // typed 60/50/0: scaled in proportion
  assert.deepEqual(rebalance({ v1: 60, v2: 50, v3: 0 }, S), { v1: 55, v2: 45, v3: 0 });
  // v3 locked at 20: v1 and v2 share the 80 left in proportion to 60/50
  assert.deepEqual(rebalance({ v1: 60, v2: 50, v3: 20 }, S, new Set(["v3"])), { v1: 44, v2: 36, v3: 20 });
  // all typed 0: evenly
  assert.equal(total(rebalance({ v1: 0, v2: 0, v3: 0 }, S)), 100);
});
