// The view of the graph page, carried in the URL so a view can be bookmarked. Pure.

export const GRAPH_TYPES = ["workload", "app", "versioned_app", "service"];
export const WINDOWS = ["1m", "5m", "10m", "30m", "1h", "3h", "6h", "12h", "1d"];
export const REFRESHES = { off: 0, "5s": 5, "15s": 15, "30s": 30, "1m": 60 };
export const LAYOUTS = ["auto", "elk", "dagre", "fcose", "concentric", "grid"];

/** The API's defaults (docs/api.md) and the page's own. */
export const DEFAULT_VIEW = Object.freeze({
  namespaces: [], graphType: "workload", window: "5m", refresh: "15s", labels: "rate",
  idle: false, mtls: true, anim: false, layout: "auto", find: "", hide: "", queryTime: null,
});

const KEYS = {
  namespaces: "namespaces", graphType: "graph_type", window: "window", refresh: "refresh",
  labels: "labels", idle: "idle", mtls: "mtls", anim: "anim", layout: "layout", find: "find",
  hide: "hide", queryTime: "query_time",
};

function bool(text, fallback) {
  if (text === null) return fallback;
  return ["1", "true", "on", "yes"].includes(text.toLowerCase());
}

/** The view in `search` (a query string); unknown or bad values fall back to the defaults. */
export function viewFromSearch(search) {
  const p = new URLSearchParams(search);
  const pick = (key, allowed) => {
    const value = p.get(KEYS[key]);
    return value !== null && allowed.includes(value) ? value : DEFAULT_VIEW[key];
  };
  const qt = Number(p.get(KEYS.queryTime));
  return {
    namespaces: (p.get(KEYS.namespaces) ?? "").split(",").map((s) => s.trim()).filter(Boolean).sort(),
    graphType: pick("graphType", GRAPH_TYPES),
    window: p.get(KEYS.window) || DEFAULT_VIEW.window,
    refresh: pick("refresh", Object.keys(REFRESHES)),
    labels: p.get(KEYS.labels) ?? DEFAULT_VIEW.labels,
    idle: bool(p.get(KEYS.idle), DEFAULT_VIEW.idle),
    mtls: bool(p.get(KEYS.mtls), DEFAULT_VIEW.mtls),
    anim: bool(p.get(KEYS.anim), DEFAULT_VIEW.anim),
    layout: pick("layout", LAYOUTS),
    find: p.get(KEYS.find) ?? "",
    hide: p.get(KEYS.hide) ?? "",
    queryTime: p.get(KEYS.queryTime) && Number.isFinite(qt) ? qt : null,
  };
}

/** The query string of `view`, keeping only what differs from the defaults (stable order). */
export function searchFromView(view) {
  const p = new URLSearchParams();
  for (const [key, name] of Object.entries(KEYS)) {
    const value = view[key];
    const fallback = DEFAULT_VIEW[key];
    if (key === "namespaces") { if (value.length) p.set(name, [...value].sort().join(",")); continue; }
    if (value === fallback || value === null || value === undefined) continue;
    p.set(name, typeof value === "boolean" ? (value ? "1" : "0") : String(value));
  }
  const text = p.toString();
  return text ? `?${text}` : "";
}

/** The GET /api/v1/graph query string for `view`. */
export function apiQuery(view) {
  const p = new URLSearchParams();
  if (view.namespaces.length) p.set("namespaces", view.namespaces.join(","));
  p.set("graph_type", view.graphType);
  p.set("window", view.window);
  if (view.idle) p.set("include_idle", "true");
  if (view.queryTime !== null) p.set("query_time", String(view.queryTime));
  return p.toString();
}

/** The `view` of a websocket subscribe frame (docs/decisions/0005). */
export function subscribeView(view) {
  return {
    namespaces: view.namespaces.length ? [...view.namespaces] : null,
    graph_type: view.graphType,
    window: view.window,
    include_idle: view.idle,
    inject_service_nodes: false,
  };
}
