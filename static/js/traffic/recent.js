// Routing changes inside the graph's window: which service a selection's traffic is routed by,
// the latest change of its routing from the audit log (GET /api/v1/changes), and what to tell
// the operator — its figures mix the routing before and after. Pure: no DOM, no fetch.

import { formatAge } from "../graph/format.js";

/**
 * `{namespace, service}` whose routing decides the selection's traffic: a node's own service
 * (an app node: the service of its name, as the traffic editor edits), an edge's target's; null
 * when there is none (unknown callers, external hosts).
 */
export function routedService(selection, nodes, edges) {
  if (!selection) return null;
  const id = selection.group === "edges" ? edges.get(selection.id)?.target : selection.id;
  const n = nodes.get(id);
  const service = n?.service ?? (n?.kind === "app" ? n.app : null);
  if (!n || !service || service === "unknown" || !n.namespace || n.namespace === "unknown") return null;
  return { namespace: n.namespace, service };
}

/** The changes query of `subject` over the window ending at `endS` (unix seconds). */
export function changesQuery(subject, endS, windowS) {
  const p = new URLSearchParams({ namespace: subject.namespace, service: subject.service, since: String(Math.floor(endS - windowS)), limit: "20" });
  return `/api/v1/changes?${p}`;
}

/** The newest of `changes` (the API's, newest first) applied at or before `endS`, or null. */
export function latestChangeBefore(changes, endS) {
  return (changes ?? []).find((c) => Date.parse(c.time) / 1000 <= endS + 1) ?? null;
}

/**
 * What the panel says about `change` for a window of `windowS` seconds (`windowText`, e.g. "5m")
 * ending at `endS`: `{ageS, text, canNarrow}`, or null when the change is older than the window
 * (the window holds only the new routing). `canNarrow`: a 1m window would hold less of the old.
 */
export function changeNote(change, endS, windowS, windowText, live = true) {
  if (!change) return null;
  const ageS = Math.max(0, endS - Date.parse(change.time) / 1000);
  if (ageS >= windowS) return null;
  const when = live ? formatAge(ageS) : `${formatAge(ageS).replace(" ago", "")} before this view's time`;
  return {
    ageS,
    text: `routing changed ${when} — this ${windowText} window mixes before and after`,
    canNarrow: windowS > 60,
  };
}

/** The query of every change applied inside the window of `windowS` seconds ending at `endS`. */
export function windowChangesQuery(endS, windowS) {
  const p = new URLSearchParams({ since: String(Math.floor(endS - windowS)), limit: "500" });
  return `/api/v1/changes?${p}`;
}

/**
 * Services whose routing changed inside the window: "namespace/service" → the newest change's
 * time (unix seconds), from `changes` (the API's, newest first) applied at or before `endS`.
 */
export function changedServices(changes, endS) {
  const changed = new Map();
  for (const c of changes ?? []) {
    const at = Date.parse(c.time) / 1000;
    const key = `${c.namespace}/${c.service}`;
    if (at <= endS + 1 && !changed.has(key)) changed.set(key, at);
  }
  return changed;
}
