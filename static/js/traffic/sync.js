// How fresh a traffic answer is. The Kubernetes backend serves reads from a short cache and
// says so: `from_cache` (bool), `sync_age_s` (seconds since it last read the API server, when it
// answered) and `synced_at` (ISO 8601 UTC). Older servers send none of them, other backends
// `from_cache: false`: both read as "fresh", so nothing is shown. Pure: runs under Node.

import { formatAge } from "../graph/format.js";

/**
 * Seconds since the backend last synced the data of `answer` (a traffic state or an
 * istio-config answer), `elapsedS` seconds after the answer arrived; null when the answer is
 * not from a cache or does not say how old it is. `sync_age_s` is preferred (no clock skew
 * between browser and server); `synced_at` is the fallback, measured against `nowMs`.
 */
export function syncAgeS(answer, { elapsedS = 0, nowMs = Date.now() } = {}) {
  if (!answer || answer.from_cache !== true) return null;
  const age = answer.sync_age_s;
  if (typeof age === "number" && Number.isFinite(age) && age >= 0) return age + Math.max(0, elapsedS);
  const at = Date.parse(answer.synced_at ?? "");
  return Number.isFinite(at) ? Math.max(0, (nowMs - at) / 1000) : null;
}

/**
 * "last synced 12 s ago" for an answer served from the cache ("served from a cache" when it
 * does not say since when), "" for a fresh answer or one without the fields.
 */
export function syncNote(answer, options = {}) {
  if (!answer || answer.from_cache !== true) return "";
  const age = syncAgeS(answer, options);
  return age === null ? "served from a cache" : `last synced ${formatAge(age)}`;
}
