// Unit tests of the subsets the traffic editor offers: node --test static/js/tests/
import assert from "node:assert/strict";
import { test } from "node:test";

import { changesUrl, subsetsOf } from "../traffic/editor.js";

const subsets = (...names) => names.map((name) => ({ name, labels: { version: name } }));

test("test_versions_seen_in_telemetry_are_offered_beside_the_destination_rule_subsets", () => {
  // given a DestinationRule left with v1 and v3 after v2 was set to 0, and telemetry showing v1..v3
  // (the API lists the versions its telemetry saw in available_subsets)
  const state = { subsets: subsets("v3", "v1"), available_subsets: subsets("v3", "v1", "v2") };
  // then the form offers all three, in natural order
  assert.deepEqual(subsetsOf(state), ["v1", "v2", "v3"]);
  assert.deepEqual(subsetsOf({ ...state, available_subsets: subsets("v10", "v2") }), ["v1", "v2", "v3", "v10"]);
});

test("test_the_subsets_the_api_accepts_are_offered", () => {
  // given a state whose DestinationRule lost v2 but whose API still accepts it
  const state = { subsets: subsets("v1"), available_subsets: subsets("v1", "v2") };
  // then v2 is offered without any help from the host's telemetry
  assert.deepEqual(subsetsOf(state), ["v1", "v2"]);
});

test("test_without_versions_the_state_subsets_stay", () => {
  // given an answer without available_subsets (a server older than the field)
  const state = { subsets: subsets("v1") };
  assert.deepEqual(subsetsOf(state), ["v1"]);
});

test("test_the_changes_link_is_filtered_to_the_service", () => {
  assert.equal(changesUrl("bookinfo", "reviews"), "/changes?namespace=bookinfo&service=reviews");
});
