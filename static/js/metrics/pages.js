// The metrics pages: overview cards, lists and detail charts, polling the metrics API.
// Each page keeps its last good data when a poll fails and marks it stale with its age.

import { applyDataStyles } from "../inline-style.js";
import { describeError, formatDuration, getJson } from "../traces/common.js";
import { scatterSvg } from "../traces/scatter.js";
import { mountTrafficEditor, routingSummary, subsetsOf, weightsBarHtml } from "../traffic/editor.js";
import { WINDOW_RULE, initialWindow, rememberWindow } from "../window-choice.js";

const page = document.getElementById("m-page");
const toolbar = document.getElementById("m-toolbar");
toolbar?.addEventListener("submit", (event) => event.preventDefault()); // its controls apply as they change
const banner = document.getElementById("m-banner");
const statusEl = document.getElementById("m-status");
const HEALTH_ORDER = { failing: 0, degraded: 1, unknown: 2, healthy: 3, idle: 4 };

// --- formatting -----------------------------------------------------------------------------
export function fmtRate(v) {
  if (v === null || v === undefined) return "–";
  if (v === 0) return "0";
  if (v >= 100) return v.toFixed(0);
  if (v >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}
export function fmtPct(v) { return v === null || v === undefined ? "–" : `${(v * 100).toFixed(v > 0 && v < 0.001 ? 3 : 1)}%`; }
export function fmtMs(v) { return v === null || v === undefined ? "–" : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toPrecision(3)} ms`; }
export function fmtBytes(v) {
  if (v === null || v === undefined) return "–";
  const units = ["B/s", "kB/s", "MB/s", "GB/s"];
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
  return `${v.toPrecision(3)} ${units[i]}`;
}
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}
function healthPill(health, reason) {
  return el("span", { class: `health-pill h-${health}`, title: reason || health, "data-health": health }, health);
}

// --- fetching and polling -------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}
async function getJSON(url) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  } catch (err) {
    throw new ApiError(0, "network", "meshui did not answer (network error)");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body && body.error ? body.error : { code: "http_error", message: `HTTP ${response.status}` };
    throw new ApiError(response.status, error.code, error.message);
  }
  return body;
}
function view() {
  const data = new FormData(toolbar);
  return Object.fromEntries(data.entries());
}
const state = { lastGood: null, timer: null };
function showBanner(error) {
  if (!error) { banner.hidden = true; banner.textContent = ""; return; }
  const upstream = error.code && error.code.startsWith("prometheus");
  banner.hidden = false;
  banner.className = `m-banner ${upstream ? "m-banner-bad" : "m-banner-warn"}`;
  const age = state.lastGood ? Math.round((Date.now() - state.lastGood) / 1000) : null;
  banner.textContent = (upstream ? "Prometheus is unavailable: " : "Could not refresh: ") + error.message
    + (age !== null ? ` — showing data from ${age} s ago (stale).` : "");
  page.classList.toggle("is-stale", age !== null);
}
async function poll(load) {
  clearTimeout(state.timer);
  statusEl.textContent = "Updating…";
  try {
    await load();
    state.lastGood = Date.now();
    showBanner(null);
    page.classList.remove("is-stale");
    statusEl.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    showBanner(error);
    statusEl.textContent = "Update failed";
  }
  const every = Number(view().refresh || 0);
  if (every > 0) state.timer = setTimeout(() => poll(load), every * 1000);
}
function warn(container, warnings) {
  for (const w of warnings || []) container.prepend(el("p", { class: "m-notice", "data-testid": "warning" }, `Prometheus warning: ${w}`));
}

// --- overview -------------------------------------------------------------------------------
function sparkline(points) {
  const w = 220, h = 44;
  const values = points.map((p) => p[1] ?? 0);
  const max = Math.max(...values, 1e-9);
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const coords = values.map((v, i) => `${(i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 6)).toFixed(1)}`);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `inbound requests, peak ${fmtRate(max)}/s`);
  svg.innerHTML = `<polygon class="spark-fill" points="0,${h} ${coords.join(" ")} ${w},${h}"></polygon><polyline class="spark-line" points="${coords.join(" ")}"></polyline>`;
  return svg;
}
let overviewData = null;
function renderOverview() {
  const grid = document.getElementById("ns-grid");
  const v = view();
  let items = overviewData.namespaces.filter((n) => (!v.name || n.name.includes(v.name)) && (!v.health || n.health === v.health));
  const sorters = {
    name: (a, b) => a.name.localeCompare(b.name),
    rate: (a, b) => (b.request_rate ?? 0) - (a.request_rate ?? 0),
    errors: (a, b) => (b.error_rate ?? 0) - (a.error_rate ?? 0),
    health: (a, b) => HEALTH_ORDER[a.health] - HEALTH_ORDER[b.health] || a.name.localeCompare(b.name),
  };
  items = items.sort(sorters[v.sort] || sorters.health);
  grid.replaceChildren();
  warn(grid, overviewData.warnings);
  if (!items.length) grid.append(el("p", { class: "muted" }, "No namespace with traffic matches."));
  for (const ns of items) {
    const counts = el("ul", { class: "ns-counts" });
    for (const key of ["healthy", "degraded", "failing", "idle"]) {
      counts.append(el("li", { class: `c-${key}`, "data-testid": `count-${key}` }, el("strong", { text: String(ns.counts[key] ?? 0) }), ` ${key}`));
    }
    const card = el("a", { class: `card ns-card h-border-${ns.health}`, href: `${page.dataset.listUrl}?namespace=${encodeURIComponent(ns.name)}`, "data-testid": "namespace-card", "data-namespace": ns.name },
      el("div", { class: "ns-card-head" }, el("h2", { text: ns.name }), healthPill(ns.health)),
      counts,
      sparkline(ns.inbound_rate),
      el("div", { class: "ns-figures" },
        el("span", {}, el("strong", { text: fmtRate(ns.request_rate) }), " req/s in"),
        el("span", { class: ns.error_rate > 0 ? "bad" : "" }, el("strong", { text: fmtPct(ns.error_rate) }), " errors")));
    grid.append(card);
  }
}
async function loadOverview() {
  overviewData = await getJSON(`${page.dataset.api}?window=${encodeURIComponent(view().window)}`);
  renderOverview();
}

// --- lists ----------------------------------------------------------------------------------
let listItems = null;
let listSort = { key: "health", dir: 1 };
const params = new URLSearchParams(location.search);
function renderList() {
  const rows = document.getElementById("m-rows");
  const v = view();
  const items = listItems.filter((i) => (!v.namespace || i.namespace === v.namespace) && (!v.health || i.health === v.health) && (!v.name || i.name.includes(v.name)));
  const keyOf = {
    health: (i) => HEALTH_ORDER[i.health], namespace: (i) => i.namespace, name: (i) => i.name,
    request_rate: (i) => -(i.request_rate ?? 0), error_rate: (i) => -(i.error_rate ?? -1), p95: (i) => -(i.latency_ms.p95 ?? -1),
  }[listSort.key];
  items.sort((a, b) => {
    const x = keyOf(a), y = keyOf(b);
    return (x < y ? -1 : x > y ? 1 : 0) * listSort.dir || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);
  });
  rows.replaceChildren();
  if (!items.length) rows.append(el("tr", {}, el("td", { colspan: "7", class: "muted" }, "Nothing with traffic matches these filters.")));
  for (const i of items) {
    const href = `/namespaces/${encodeURIComponent(i.namespace)}/${page.dataset.kinds}/${encodeURIComponent(i.name)}`;
    rows.append(el("tr", { "data-testid": "entity-row", "data-name": i.name },
      el("td", {}, healthPill(i.health, i.health_reason), ...healthHints(i)),
      el("td", { text: i.namespace }),
      el("td", {}, el("a", { href, "data-testid": "entity-link" }, i.name)),
      el("td", { class: "num", text: fmtRate(i.request_rate) }),
      el("td", { class: `num ${i.error_rate > 0 ? "bad" : ""}`, text: fmtPct(i.error_rate) }),
      el("td", { class: "num", text: fmtMs(i.latency_ms.p95) }),
      el("td", {}, ...i.versions.map((ver) => el("span", { class: "ver" }, ver)))));
  }
}
/** Beside a list row's pill: which direction is unhealthy, and ⚑ where errors originate. */
function healthHints(i) {
  const hints = [];
  const sides = ["inbound", "outbound"].filter((side) => UNHEALTHY.includes(i[`${side}_health`]));
  if (sides.length) hints.push(el("span", { class: "muted small", "data-testid": "row-direction" }, ` ${sides.join(" + ")}`));
  if (i.error_origin) hints.push(el("span", { class: "origin-mark", title: "Errors originate here: its inbound requests fail while its own calls do not", "data-testid": "row-origin" }, " ⚑ origin"));
  return hints;
}
async function loadList() {
  const v = view();
  const namespaces = await getJSON(`${page.dataset.namespacesApi}?window=${encodeURIComponent(v.window)}`);
  const select = toolbar.elements.namespace;
  const chosen = select.value || params.get("namespace") || "";
  select.replaceChildren(el("option", { value: "" }, "All"), ...namespaces.namespaces.map((n) => el("option", { value: n.name }, n.name)));
  select.value = chosen;
  const wanted = namespaces.namespaces.map((n) => n.name).filter((n) => !chosen || n === chosen);
  const lists = await Promise.all(wanted.map((ns) => getJSON(`${page.dataset.apiRoot}${encodeURIComponent(ns)}/${page.dataset.kinds}?window=${encodeURIComponent(v.window)}`)));
  listItems = lists.flatMap((l) => l.items.map((i) => ({ ...i, namespace: l.namespace })));
  renderList();
}

// --- detail ---------------------------------------------------------------------------------
// `chosen`: the operator picked a direction (or the page already opened on the unhealthy one).
const detail = { direction: "inbound", plots: [], chosen: false };
const UNHEALTHY = ["degraded", "failing"];
const SEVERITY = { idle: 0, unknown: 1, healthy: 2, degraded: 3, failing: 4 };
function setDirection(direction) {
  detail.direction = direction;
  for (const b of document.querySelectorAll("[data-direction]")) b.setAttribute("aria-pressed", String(b.dataset.direction === direction));
}
/** Open on the unhealthy direction: a caller whose own calls fail shows its outbound charts first. */
function openOnUnhealthyDirection(d) {
  if (detail.chosen) return false;
  detail.chosen = true;
  const outWorse = UNHEALTHY.includes(d.outbound_health) && SEVERITY[d.outbound_health] > SEVERITY[d.inbound_health];
  if (!outWorse || detail.direction === "outbound") return false;
  setDirection("outbound");
  return true;
}
const PALETTE = ["#2f6fdf", "#1e8e4e", "#c53030", "#b7791f", "#805ad5", "#0f8a8a", "#d53f8c", "#4a5568"];
const CLASS_COLOURS = { "2xx": "#1e8e4e", "3xx": "#2f6fdf", "4xx": "#b7791f", "5xx": "#c53030", "no response": "#6b7280" };
function labelText(labels) { const v = Object.values(labels); return v.length ? v.join(" ") || "(none)" : "total"; }
function renderIdentity(d) {
  const pill = document.getElementById("d-health");
  pill.replaceWith(Object.assign(healthPill(d.health, d.health_reason), { id: "d-health" }));
  document.getElementById("d-health").setAttribute("data-testid", "detail-health");
  const callsFail = UNHEALTHY.includes(d.outbound_health) && !UNHEALTHY.includes(d.health);
  document.getElementById("d-reason").textContent = d.health_reason ? `Why: ${d.health_reason}`
    : callsFail ? `The requests it answers are within tolerance; its own calls are not: ${d.outbound_health_reason ?? d.outbound_health}.`
    : d.health === "healthy" ? "All request outcomes are within tolerance." : "";
  const origin = document.getElementById("d-origin");
  if (origin) origin.hidden = !d.error_origin;
  const ident = document.getElementById("d-ident");
  ident.replaceChildren();
  for (const side of ["inbound", "outbound"]) {
    const health = d[`${side}_health`];
    if (!health) continue;
    const reason = d[`${side}_health_reason`];
    ident.append(el("dt", { text: side === "inbound" ? "Health in" : "Health out" }),
      el("dd", { "data-testid": `detail-${side}-health`, "data-health": health }, healthPill(health, reason), reason ? el("span", { class: "muted small" }, ` ${reason}`) : ""));
  }
  const rows = [["Namespace", d.namespace], ["Cluster", d.cluster || "–"], ["App", d.app || "–"],
    ["Versions", d.versions.join(", ") || "–"], ["Requests in", `${fmtRate(d.request_rate)}/s`],
    ["Errors in", fmtPct(d.error_rate)], ["p95 in", fmtMs(d.latency_ms.p95)]];
  if (d.workloads.length) rows.splice(3, 0, ["Workloads", d.workloads.join(", ")]);
  for (const [k, v] of rows) ident.append(el("dt", { text: k }), el("dd", { text: v }));
  detail.app = d.app || null;
  const box = document.getElementById("d-neighbours");
  box.replaceChildren(neighbourGraph(d));
  for (const side of ["inbound", "outbound"]) {
    const list = el("ul", { class: "nb-list", "data-testid": `neighbours-${side}` });
    for (const n of d.neighbours[side]) {
      const kinds = { service: "services", workload: "workloads", app: "apps" }[n.kind];
      const name = kinds && n.namespace ? el("a", { href: `/namespaces/${encodeURIComponent(n.namespace)}/${kinds}/${encodeURIComponent(n.name)}` }, n.name) : el("span", { text: n.name });
      list.append(el("li", {}, el("span", { class: `dot h-${n.health}`, title: n.health }), side === "inbound" ? "← " : "→ ", name,
        el("span", { class: "muted small" }, ` ${n.namespace || n.kind}`),
        el("span", { class: "nb-fig" }, n.protocol === "tcp" ? fmtBytes(n.tcp_bytes_per_s) : `${fmtRate(n.request_rate)}/s · ${fmtPct(n.error_rate)}`)));
    }
    if (!d.neighbours[side].length) list.append(el("li", { class: "muted" }, "none in the window"));
    box.append(el("h3", { class: "nb-head" }, side === "inbound" ? "Callers" : "Callees"), list);
  }
  const grafana = document.getElementById("d-grafana");
  if (grafana) {
    const root = page.dataset.grafana;
    grafana.href = d.kind === "service"
      ? `${root}/d/LJ_uJAvmk/istio-service-dashboard?var-service=${encodeURIComponent(`${d.name}.${d.namespace}.svc.cluster.local`)}`
      : `${root}/d/UbsSZTDik/istio-workload-dashboard?var-namespace=${encodeURIComponent(d.namespace)}&var-workload=${encodeURIComponent(d.name)}`;
  }
}

// The neighbours as a mini graph: callers → this → callees; boxes show each node's own health,
// arrows the health of the traffic between. Colours are the graph page's and health has the same second cue (a glyph in the label, dashed/dotted edges, dashed/double
// node borders), so it reads without colour.
const SVG_NS = "http://www.w3.org/2000/svg";
const NB_COLOURS = { healthy: "#009E73", degraded: "#E69F00", failing: "#D55E00", idle: "#9aa3b2", unknown: "#6b7686" };
const NB_GLYPH = { degraded: "▲ ", failing: "✖ ", idle: "○ " };
const NB_MAX = 6;
function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function shortName(name) { return name.length > 18 ? `${name.slice(0, 17)}…` : name; }
export function neighbourGraph(d) {
  const W = 560, BOX_W = 150, BOX_H = 26, GAP = 8;
  const sides = { inbound: d.neighbours.inbound.slice(0, NB_MAX), outbound: d.neighbours.outbound.slice(0, NB_MAX) };
  const rowsNeeded = Math.max(1, sides.inbound.length, sides.outbound.length);
  const H = rowsNeeded * (BOX_H + GAP) + GAP;
  const svg = svgEl("svg", { class: "nb-graph", viewBox: `0 0 ${W} ${H}`, role: "img", "data-testid": "neighbour-graph",
    "aria-label": `${d.neighbours.inbound.length} callers, ${d.neighbours.outbound.length} callees` });
  const defs = svgEl("defs", {});
  const marker = svgEl("marker", { id: "nb-arrow", viewBox: "0 0 8 8", refX: "8", refY: "4", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
  marker.append(svgEl("path", { d: "M0,0L8,4L0,8z", class: "nb-arrowhead" }));
  defs.append(marker);
  svg.append(defs);
  const centre = { x: (W - BOX_W) / 2, y: (H - BOX_H) / 2 };
  const column = { inbound: 4, outbound: W - BOX_W - 4 };
  const kindsOf = { service: "services", workload: "workloads", app: "apps" };
  const node = (x, y, label, health, href, testid) => {
    const g = svgEl("g", { class: `nb-node nb-${health}`, "data-testid": testid, "data-health": health });
    const rect = svgEl("rect", { x, y, width: BOX_W, height: BOX_H, rx: 5, stroke: NB_COLOURS[health] || NB_COLOURS.unknown });
    const text = svgEl("text", { x: x + BOX_W / 2, y: y + BOX_H / 2 + 4, "text-anchor": "middle" }, `${NB_GLYPH[health] || ""}${shortName(label)}`);
    g.append(svgEl("title", {}, `${label} · ${health}`), rect, text);
    if (!href) return g;
    const a = svgEl("a", { href });
    a.append(g);
    return a;
  };
  for (const side of ["inbound", "outbound"]) {
    const list = sides[side];
    const top = (H - list.length * (BOX_H + GAP) + GAP) / 2;
    list.forEach((n, i) => {
      const y = top + i * (BOX_H + GAP);
      const kinds = kindsOf[n.kind];
      const href = kinds && n.namespace ? `/namespaces/${encodeURIComponent(n.namespace)}/${kinds}/${encodeURIComponent(n.name)}` : null;
      const [x1, y1, x2, y2] = side === "inbound"
        ? [column.inbound + BOX_W, y + BOX_H / 2, centre.x, centre.y + BOX_H / 2]
        : [centre.x + BOX_W, centre.y + BOX_H / 2, column.outbound, y + BOX_H / 2];
      const figure = n.protocol === "tcp" ? fmtBytes(n.tcp_bytes_per_s) : `${fmtRate(n.request_rate)}/s`;
      const edge = svgEl("g", { class: `nb-edge nb-edge-${n.health}`, "data-testid": `neighbour-edge-${side}` });
      edge.append(svgEl("title", {}, `${side === "inbound" ? `${n.name} → ${d.name}` : `${d.name} → ${n.name}`} · ${figure} · ${fmtPct(n.error_rate)} errors · ${n.health}`),
        svgEl("path", { d: `M${x1},${y1} C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2},${y2}`, stroke: NB_COLOURS[n.health] || NB_COLOURS.unknown, "marker-end": "url(#nb-arrow)" }));
      svg.append(edge, node(side === "inbound" ? column.inbound : column.outbound, y, n.name, n.node_health || "unknown", href, `neighbour-node-${side}`));
    });
  }
  svg.append(node(centre.x, centre.y, d.name, d.health, null, "neighbour-node-self"));
  svg.lastChild.classList.add("nb-self");
  const more = d.neighbours.inbound.length + d.neighbours.outbound.length - sides.inbound.length - sides.outbound.length;
  const wrap = el("div", { class: "nb-graph-wrap" }, svg);
  if (more > 0) wrap.append(el("p", { class: "muted small" }, `${more} more in the list below.`));
  return wrap;
}

// --- traces tab (issue 7 §3): fetched only when the tab is opened ----------------------------
const WINDOW_S = { "1m": 60, "5m": 300, "10m": 600, "30m": 1800, "1h": 3600, "3h": 10800, "6h": 21600, "12h": 43200, "1d": 86400 };
const traces = { open: false, abort: null };
/** Traces asked for: more for a longer window, as the graph panel does, so the scatter shows its shape. */
function traceLimit(windowS) { return windowS <= 600 ? 20 : windowS <= 3600 ? 50 : 100; }
function tracesUrl(windowText) {
  // Jaeger knows Istio's canonical services by app: a service page asks for its app.
  const app = detail.app || page.dataset.name;
  const p = new URLSearchParams({ window: windowText, limit: String(traceLimit(WINDOW_S[windowText] || 1800)) });
  return `/api/v1/namespaces/${encodeURIComponent(page.dataset.namespace)}/services/${encodeURIComponent(app)}/traces?${p}`;
}
async function loadTraces() {
  const box = document.getElementById("d-tab-traces");
  if (traces.abort) traces.abort.abort();
  const controller = new AbortController();
  traces.abort = controller;
  const windowText = view().window;
  const url = tracesUrl(windowText);
  box.dataset.state = "loading";
  box.replaceChildren(el("p", { class: "muted" }, "Reading traces…"));
  let result;
  try { result = await getJson(url, controller.signal); } catch { return; }
  if (traces.abort !== controller) return;
  traces.abort = null;
  if (!result.ok) {
    const { title, message, hint, code } = describeError(result.error);
    box.dataset.state = "error";
    box.replaceChildren(el("div", { class: "d-traces-message", role: "alert", "data-testid": "traces-error", "data-code": code },
      el("strong", { text: title }), el("p", { text: message }), ...(hint ? [el("p", { class: "muted", text: hint })] : [])));
    return;
  }
  renderTraces(box, result.body.traces, windowText, Number(new URL(url, location.href).searchParams.get("limit")));
}
function renderTraces(box, list, windowText, limit) {
  const endUs = Date.now() * 1000;
  const startUs = endUs - (WINDOW_S[windowText] || 1800) * 1e6;
  const href = (t) => `/traces/${encodeURIComponent(t.trace_id)}?window=${encodeURIComponent(windowText)}`;
  box.dataset.state = "loaded";
  box.replaceChildren(el("h2", { text: `Traces through ${detail.app || page.dataset.name}` }));
  if (!list.length) { box.append(el("p", { class: "muted", "data-testid": "traces-empty" }, `No traces in the last ${windowText}.`)); return; }
  const errors = list.filter((t) => t.has_error).length;
  box.append(el("p", { class: "muted small" }, `${list.length} trace${list.length > 1 ? "s" : ""} (newest ${limit} at most) in the last ${windowText}${errors ? ` · ${errors} with errors` : ""}. Click a mark to open the trace.`));
  const plot = el("div", { class: "d-scatter" });
  // scatterSvg escapes every value it puts in its markup.
  plot.innerHTML = scatterSvg(list, { startUs, endUs, href });
  box.append(plot, el("div", { class: "trace-scatter-legend" }, el("span", { text: "● trace" }), el("span", { text: "✖ trace with an error" })));
  const slowest = [...list].sort((a, b) => b.duration_ms - a.duration_ms).slice(0, 8);
  const items = slowest.map((t) => el("li", {},
    el("a", { href: href(t), "data-testid": "trace-link", "data-trace-id": t.trace_id },
      ...(t.has_error ? [el("span", { class: "is-error", title: "error" }, "✖ ")] : []),
      `${new Date(t.start_time_us / 1000).toLocaleTimeString()} · ${t.root?.service ?? ""} ${t.root?.operation ?? ""} · ${t.span_count} spans`),
    el("span", { text: formatDuration(t.duration_ms) })));
  box.append(el("h3", { text: "Slowest" }), el("ul", { class: "trace-list", "data-testid": "trace-list" }, ...items));
}

// --- traffic routing tab (issue 5 §4): the graph panel's editor, drawn in the page ------------
// Service pages edit their service. An app page edits the service of the app's own name (Istio's
// convention, and what the graph's app nodes edit) when telemetry knows that service; otherwise
// it says there is no such service. Workload pages have none: a workload's routing is its
// service's. The editor reads the routing once when the page opens, and again when the tab is
// opened unless the form holds edits; the Identity card's routing line follows every state the
// editor shows, so an apply updates it at once.
const routing = { editor: null, target: null };
const enc = encodeURIComponent;
/** `{namespace, service}` the page's routing tab edits, or null when the app has no service of its name. */
async function routingTarget() {
  const target = { namespace: page.dataset.namespace, service: page.dataset.name };
  if (page.dataset.kind !== "app") return target;
  try {
    await getJSON(`/api/v1/namespaces/${enc(target.namespace)}/services/${enc(target.service)}?window=1h`);
  } catch (error) {
    if (error.status === 404) return null;
    // Telemetry unavailable: routing stays editable, by the same name rule as the graph.
  }
  return target;
}
function renderRouting(state, error) {
  const box = document.getElementById("d-routing");
  box.hidden = false;
  const what = page.dataset.kind === "app" ? `Routing of service ${routing.target.service}` : "Routing";
  const change = el("a", { href: "#traffic", "data-testid": "detail-routing-change" }, state ? "Change" : "Open");
  change.addEventListener("click", (event) => { event.preventDefault(); showTab("traffic"); });
  if (!state) {
    box.replaceChildren(el("span", { class: "d-routing-label", text: what }), el("span", { class: "chart-error", text: `cannot be read: ${error.message}` }), change);
    return;
  }
  const subsets = subsetsOf(state);
  const parts = [el("span", { class: "d-routing-label", text: what })];
  if (Object.keys(state.weights).length) {
    const bar = el("span", { class: "d-routing-bar" });
    bar.innerHTML = weightsBarHtml(subsets, state.weights); // escapes the subset names
    applyDataStyles(bar);
    parts.push(bar);
  }
  parts.push(el("span", { class: "d-routing-summary", "data-testid": "detail-routing-summary", text: routingSummary(state) }), change);
  box.replaceChildren(...parts);
}
async function mountRouting() {
  const box = document.getElementById("d-traffic-editor");
  if (!box) return;
  const target = await routingTarget();
  if (!target) {
    box.replaceChildren(el("p", { class: "muted", "data-testid": "traffic-no-service" },
      `No service named ${page.dataset.name} in ${page.dataset.namespace} had traffic in the last hour, so this app's routing cannot be told apart. `,
      el("a", { href: `/services?namespace=${enc(page.dataset.namespace)}` }, "Pick its service"), " to change its routing."));
    return;
  }
  routing.target = target;
  box.replaceChildren();
  routing.editor = mountTrafficEditor(box, target, { inline: true, onState: renderRouting });
}

function openTab(name) {
  for (const tab of document.querySelectorAll("[data-tab]")) tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
  for (const tab of ["metrics", "traces", "traffic"]) {
    const panel = document.getElementById(`d-tab-${tab}`);
    if (panel) panel.hidden = name !== tab;
  }
  traces.open = name === "traces";
  if (traces.open) loadTraces();
  else if (traces.abort) { traces.abort.abort(); traces.abort = null; }
  if (name === "traffic") routing.editor?.refresh();
}
/** Open a tab from a link elsewhere on the page: the URL says which, and the tabs come into view. */
function showTab(name) {
  history.replaceState(null, "", `#${name}`);
  openTab(name);
  document.querySelector(".d-tabs")?.scrollIntoView({ block: "start", behavior: "smooth" });
}

const CHARTS = [
  // `span`: the least top of the y axis, so a flat line keeps a scale that means something in
  // its unit (uPlot's default 0..100 would read as 10000% for a ratio).
  { id: "requests", title: "Request volume", metrics: ["request_rate"], fmt: (v) => `${fmtRate(v)}/s`, span: 1 },
  { id: "errors", title: "Error rate (5xx, no response, gRPC errors)", metrics: ["error_rate"], fmt: fmtPct, span: 0.01 },
  { id: "latency", title: "Request duration", metrics: ["latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_avg_ms"], fmt: fmtMs, span: 1 },
  { id: "tcp", title: "TCP bytes", metrics: ["tcp_sent_bytes_per_s", "tcp_received_bytes_per_s"], fmt: fmtBytes, span: 1 },
  // `optional`: drawn only when the series hold entries (Istio's size histograms are not always
  // exported, e.g. by the demo); not shown at all when the series cannot load.
  { id: "size", title: "Request / response size", metrics: ["request_bytes_per_s", "response_bytes_per_s"], fmt: fmtBytes, span: 1, optional: true },
];
const EMPTY_TEXT = { tcp: "No TCP traffic in this direction.", size: "No request or response bytes in this direction." };
function isPresent(chart, series) {
  return !chart.optional || chart.metrics.some((metric) => (series[metric] || []).length > 0);
}
function chartSeries(chart, series) {
  const out = [];
  for (const metric of chart.metrics) {
    const entries = series[metric] || [];
    const prefix = chart.metrics.length > 1 ? metric.replace("latency_", "").replace("_ms", "").replace("tcp_", "").replace("_bytes_per_s", "") : "";
    // Grouped latency shows p95 per group only, or the chart would hold four lines per group.
    if (chart.id === "latency" && entries.length > 1 && metric !== "latency_p95_ms") continue;
    for (const entry of entries) out.push({ label: [prefix, labelText(entry.labels)].filter((s) => s && s !== "total").join(" ") || "total", entry });
  }
  return out;
}
function drawChart(container, chart, body) {
  const lines = chartSeries(chart, body.series);
  container.replaceChildren(el("h3", { text: chart.title }));
  warn(container, body.warnings);
  // An error rate of 0 is data; zero requests or bytes everywhere is an empty chart.
  const hasData = lines.some((l) => l.entry.points.some((p) => p[1] !== null && (chart.id === "errors" || p[1] !== 0)));
  if (!hasData) { container.append(el("p", { class: "chart-empty muted", "data-testid": "chart-empty" }, EMPTY_TEXT[chart.id] || "No requests in this direction.")); return; }
  const xs = lines[0].entry.points.map((p) => p[0]);
  const data = [xs, ...lines.map((l) => l.entry.points.map((p) => p[1]))];
  const colour = (l, i) => CLASS_COLOURS[l.entry.labels.response_class] || PALETTE[i % PALETTE.length];
  const opts = {
    width: Math.max(320, container.clientWidth - 24), height: 200,
    cursor: { sync: { key: "meshui-detail", setSeries: false } },
    legend: { live: true },
    scales: { x: { time: true }, y: { range: (u, min, max) => [Math.min(0, min ?? 0), Math.max(max ?? 0, chart.span)] } },
    axes: [{ stroke: axisColour(), grid: { stroke: gridColour() } },
      { stroke: axisColour(), grid: { stroke: gridColour() }, size: 70, values: (u, ticks) => ticks.map(chart.fmt) }],
    series: [{}, ...lines.map((l, i) => ({ label: l.label, stroke: colour(l, i), width: 1.6, value: (u, v) => chart.fmt(v),
      fill: chart.id === "requests" ? `${colour(l, i)}22` : undefined }))],
  };
  const holder = el("div", { class: "chart-plot" });
  container.append(holder);
  detail.plots.push(new uPlot(opts, data, holder));
}
// Chart axes follow the page's colours (light or dark: meshui.css).
function axisColour() { return getComputedStyle(document.documentElement).getPropertyValue("--muted").trim() || "#5d6677"; }
function gridColour() { return getComputedStyle(document.documentElement).getPropertyValue("--row-line").trim() || "#eef0f4"; }
let detailIdentity = null;
async function loadDetail() {
  const v = view();
  const charts = document.getElementById("charts");
  // Health, rates and neighbours over the same window as the charts: one window per page.
  const identity = getJSON(`${page.dataset.api}?window=${encodeURIComponent(v.window)}`).then((d) => { detailIdentity = d; renderIdentity(d); });
  const by = document.getElementById("d-by").value;
  const query = new URLSearchParams({ direction: detail.direction, window: v.window, step: stepFor(v.window), rate_interval: "1m" });
  if (by) query.set("by", by);
  const seriesLoad = getJSON(`${page.dataset.api}/metrics?${query}`);
  for (const plot of detail.plots) plot.destroy();
  detail.plots = [];
  const results = await Promise.allSettled([identity, seriesLoad]);
  if (results[0].status === "fulfilled" && detailIdentity && openOnUnhealthyDirection(detailIdentity)) return loadDetail();
  charts.replaceChildren();
  for (const chart of CHARTS) {
    if (chart.optional && (results[1].status !== "fulfilled" || !isPresent(chart, results[1].value.series))) continue;
    const box = el("section", { class: "card chart", "data-testid": `chart-${chart.id}` });
    charts.append(box);
    if (results[1].status === "fulfilled") drawChart(box, chart, results[1].value);
    else box.append(el("h3", { text: chart.title }), el("p", { class: "chart-error", "data-testid": "chart-error" }, `Cannot load: ${results[1].reason.message}`));
  }
  if (results[0].status === "rejected") {
    document.getElementById("d-neighbours").replaceChildren(el("p", { class: "chart-error" }, `Cannot load: ${results[0].reason.message}`));
  }
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}
function stepFor(window) {
  const seconds = { "1m": 60, "5m": 300, "10m": 600, "30m": 1800, "1h": 3600, "3h": 10800, "6h": 21600, "12h": 43200, "1d": 86400 }[window] || 1800;
  return `${Math.max(15, Math.ceil(seconds / 120))}s`;
}

// --- wiring ---------------------------------------------------------------------------------
const loaders = { overview: loadOverview, list: loadList, detail: loadDetail };
const renderers = { overview: () => overviewData && renderOverview(), list: () => listItems && renderList(), detail: null };
const load = loaders[page.dataset.page];
// The window carried from the other pages (one rule, window-choice.js); the URL's wins.
{
  const select = toolbar.elements.window;
  const offered = [...select.options].map((o) => o.value);
  select.value = initialWindow(location.search, offered, select.value);
  select.title = WINDOW_RULE;
  select.addEventListener("change", () => rememberWindow(select.value));
}
if (page.dataset.page === "list" && params.get("namespace")) {
  toolbar.elements.namespace.append(el("option", { value: params.get("namespace") }, params.get("namespace")));
  toolbar.elements.namespace.value = params.get("namespace");
}
toolbar.addEventListener("input", (event) => {
  const name = event.target.name;
  if (["name", "health", "sort"].includes(name) && renderers[page.dataset.page]) renderers[page.dataset.page]();
  else poll(load);
  if (name === "window" && traces.open) loadTraces();
});
for (const tab of document.querySelectorAll("[data-tab]")) {
  tab.addEventListener("click", () => { history.replaceState(null, "", tab.dataset.tab === "metrics" ? location.pathname + location.search : `#${tab.dataset.tab}`); openTab(tab.dataset.tab); });
}
for (const link of document.querySelectorAll("[data-open-tab]")) {
  link.addEventListener("click", (event) => { event.preventDefault(); showTab(link.dataset.openTab); });
}
if (page.dataset.page === "detail") {
  const opened = location.hash.slice(1);
  if (["traces", "traffic"].includes(opened) && document.getElementById(`d-tab-${opened}`)) openTab(opened);
  mountRouting();
}
for (const button of document.querySelectorAll("[data-sort]")) {
  button.addEventListener("click", () => {
    listSort = { key: button.dataset.sort, dir: listSort.key === button.dataset.sort ? -listSort.dir : 1 };
    renderList();
  });
}
for (const button of document.querySelectorAll("[data-direction]")) {
  button.addEventListener("click", () => {
    detail.chosen = true;
    setDirection(button.dataset.direction);
    poll(load);
  });
}
const bySelect = document.getElementById("d-by");
if (bySelect) bySelect.addEventListener("change", () => poll(load));
poll(load);
