// The one window rule: the URL's window wins, then the remembered choice when the page offers it.
import assert from "node:assert/strict";
import { test } from "node:test";

const store = new Map();
globalThis.localStorage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, String(v)) };
const { initialWindow, rememberWindow } = await import("../window-choice.js");

test("test_the_url_wins_then_the_remembered_choice_then_the_default", () => {
  store.clear();
  assert.equal(initialWindow("", ["5m", "1h"], "5m"), "5m");
  rememberWindow("1h");
  assert.equal(initialWindow("", ["5m", "1h"], "5m"), "1h");
  assert.equal(initialWindow("?window=10m", ["5m", "1h"], "5m"), "10m");
  // a remembered window the page does not offer is not forced on it
  assert.equal(initialWindow("", ["5m", "30m"], "30m"), "30m");
  // a page that accepts any window takes it
  assert.equal(initialWindow("", null, "5m"), "1h");
});
