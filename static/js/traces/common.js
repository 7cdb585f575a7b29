// Helpers shared by the trace page and the graph panel's traces section. Pure: no DOM.

// Okabe–Ito colours (distinguishable with colour-blindness), then a few more.
const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#7F7F7F", "#8C564B", "#17BECF"];

export function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** A colour per service, stable for the order of `services`. */
export function serviceColours(services) {
  return new Map(services.map((s, i) => [s, PALETTE[i % PALETTE.length]]));
}

/** `1.2 ms`, `340 ms`, `2.4 s` from milliseconds. */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** `{app, namespace}` of a trace service name: Istio's `<app>.<namespace>`, or a plain name. */
export function splitService(name) {
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return { app: name, namespace: null };
  return { app: name.slice(0, dot), namespace: name.slice(dot + 1) };
}

/** The graph page's find expression that selects the services of a trace (app graph). */
export function findExpression(services) {
  const word = (v) => (/^[A-Za-z0-9_.:%/*-]+$/.test(v) ? v : `"${v.replace(/"/g, "")}"`);
  return services.map((s) => {
    const { app, namespace } = splitService(s);
    return namespace ? `(ns=${word(namespace)} and app=${word(app)})` : `app=${word(app)}`;
  }).join(" or ");
}

/** The graph URL that highlights `services` (find expression, app graph, window). */
export function graphLink(graphUrl, services, window) {
  const p = new URLSearchParams();
  p.set("graph_type", "app");
  if (window) p.set("window", window);
  p.set("find", findExpression(services));
  return `${graphUrl}?${p.toString()}`;
}

/** Spans in tree order (parents before children, siblings by start) with their depth. */
export function spanTree(spans) {
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map();
  const roots = [];
  for (const span of spans) {
    const parent = span.parent_span_id && ids.has(span.parent_span_id) && span.parent_span_id !== span.span_id ? span.parent_span_id : null;
    if (parent === null) roots.push(span);
    else (children.get(parent) ?? children.set(parent, []).get(parent)).push(span);
  }
  const order = [];
  const seen = new Set();
  const visit = (span, depth) => {
    if (seen.has(span)) return;
    seen.add(span);
    order.push({ span, depth });
    const kids = (children.get(span.span_id) ?? []).sort((a, b) => a.start_time_us - b.start_time_us);
    for (const kid of kids) visit(kid, depth + 1);
  };
  roots.sort((a, b) => a.start_time_us - b.start_time_us).forEach((r) => visit(r, 0));
  // Spans caught in a reference cycle (malformed traces) still show, at the top level.
  for (const span of spans) if (!seen.has(span)) visit(span, 0);
  return order;
}

/** What to tell people about an API error envelope of the traces endpoints. */
export function describeError(error) {
  const code = error?.code ?? "error";
  const titles = {
    jaeger_not_configured: "Tracing is not configured",
    jaeger_unavailable: "Jaeger did not answer",
    jaeger_bad_response: "Jaeger answered something unexpected",
    trace_not_found: "No such trace",
    invalid_parameter: "Bad request",
    not_authenticated: "Sign in to see traces",
    forbidden: "You may not read traces",
  };
  const hints = {
    jaeger_not_configured: "Every setting is described in docs/configuration.md; the graph and metrics work without Jaeger.",
    jaeger_unavailable: "The graph and metrics keep working; /readyz shows the state of every upstream.",
    jaeger_bad_response: "Check that MESHUI_JAEGER_URL points at Jaeger's query service.",
    trace_not_found: "Jaeger may have expired it, or it was never sampled.",
  };
  return { code, title: titles[code] ?? "Traces could not be read", message: error?.message ?? "", hint: hints[code] ?? "" };
}

/** GET `url` as JSON; resolves `{ok, body}` and never throws for HTTP errors. */
export async function getJson(url, signal) {
  try {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", signal });
    let body = null;
    try { body = await response.json(); } catch { body = null; }
    if (response.ok) return { ok: true, body };
    return { ok: false, error: body?.error ?? { code: "http_error", message: `HTTP ${response.status}` } };
  } catch (error) {
    if (error.name === "AbortError") throw error;
    return { ok: false, error: { code: "network_error", message: "meshui did not answer." } };
  }
}
