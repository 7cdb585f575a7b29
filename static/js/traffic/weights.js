// Weight arithmetic of the traffic editor. Pure: no DOM, no fetch.
//
// Every function takes `subsets` (the ordered subset names) and returns a new weights object
// with one integer 0–100 per subset, summing to 100. Locked subsets keep their weight; the
// others absorb whatever a change leaves, proportionally to what they had (evenly when they
// had nothing), rounded with the largest-remainder method so the total stays exactly 100.

/** Sum of the weights of `names` in `weights` (missing names count 0). */
export function total(weights, names = Object.keys(weights)) {
  return names.reduce((sum, name) => sum + (weights[name] ?? 0), 0);
}

/**
 * Split the integer `amount` over `names` in proportion to `shares` (evenly when the shares
 * are all zero); remainders go to the largest fractions, ties to the earlier name.
 */
export function apportion(amount, names, shares = {}) {
  const result = {};
  if (!names.length) return result;
  const base = total(shares, names);
  const exact = names.map((name) => (base > 0 ? (amount * (shares[name] ?? 0)) / base : amount / names.length));
  const floors = exact.map(Math.floor);
  let left = amount - floors.reduce((a, b) => a + b, 0);
  const order = names.map((_, i) => i).sort((a, b) => (exact[b] - floors[b]) - (exact[a] - floors[a]) || a - b);
  for (const i of order) {
    if (left <= 0) break;
    floors[i] += 1;
    left -= 1;
  }
  names.forEach((name, i) => { result[name] = floors[i]; });
  return result;
}

/**
 * The weights with one entry per subset. Empty `weights` (no routing) read as an even split;
 * weights that do not sum to 100 (never the case for an API state) are rescaled.
 */
export function normalize(weights, subsets) {
  const known = Object.fromEntries(subsets.map((name) => [name, Math.max(0, Math.round(weights?.[name] ?? 0))]));
  if (total(known, subsets) === 100) return known;
  return apportion(100, subsets, known);
}

/**
 * Set `name` to `value` (clamped to what the locked subsets leave) and spread the rest over
 * the other unlocked subsets. When no other subset is free, nothing can move: the weights
 * are returned unchanged.
 */
export function setWeight(weights, subsets, name, value, locked = new Set()) {
  const current = normalize(weights, subsets);
  const free = subsets.filter((s) => s !== name && !locked.has(s));
  if (!free.length) return current;
  const fixed = total(current, subsets.filter((s) => s !== name && locked.has(s)));
  const wanted = Math.min(100 - fixed, Math.max(0, Math.round(Number(value) || 0)));
  return { ...current, [name]: wanted, ...apportion(100 - fixed - wanted, free, current) };
}

/**
 * Typed weights made to sum to 100 again, when asked: the locked subsets keep theirs and the
 * unlocked ones are scaled in proportion to what was typed (evenly when they are all 0).
 */
export function rebalance(weights, subsets, locked = new Set()) {
  const current = Object.fromEntries(subsets.map((name) => [name, Math.max(0, Math.round(weights?.[name] ?? 0))]));
  const free = subsets.filter((s) => !locked.has(s));
  if (!free.length) return current;
  const fixed = Math.min(100, total(current, subsets.filter((s) => locked.has(s))));
  return { ...current, ...apportion(100 - fixed, free, current) };
}

/** The unlocked subsets share what the locked ones leave, evenly. */
export function splitEvenly(weights, subsets, locked = new Set()) {
  const current = normalize(weights, subsets);
  const free = subsets.filter((s) => !locked.has(s));
  if (!free.length) return current;
  const fixed = total(current, subsets.filter((s) => locked.has(s)));
  return { ...current, ...apportion(100 - fixed, free) };
}

/** All traffic to `name` ("promote v2"); locks do not apply to an explicit promotion. */
export function promote(subsets, name) {
  if (!subsets.includes(name)) throw new RangeError(`unknown subset ${name}`);
  return Object.fromEntries(subsets.map((s) => [s, s === name ? 100 : 0]));
}

/** All traffic back to the first subset ("roll back to v1"). */
export function rollBack(subsets) {
  return promote(subsets, subsets[0]);
}

/** The weights to send: subsets at 0 are left out (they receive nothing either way). */
export function compact(weights) {
  return Object.fromEntries(Object.entries(weights).filter(([, w]) => w > 0));
}

/** The subset listed first by natural order of its name (v1 < v2 < v10). */
export function sortSubsets(names) {
  return [...names].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}
