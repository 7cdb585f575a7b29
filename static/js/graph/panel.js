// The side panel: details of the selected node or edge, a note when its service's routing
// changed inside the window (from the audit log, GET /api/v1/changes), sparklines (uPlot) of
// its rate, error share and p95 over the selected window (the metrics range API the detail pages read,
// one request per selection, again once a step has passed), and a "Traces" section (a scatter
// of duration over time) fetched only when it is opened.

import { describeError, formatDuration, getJson } from "../traces/common.js";
import { scatterSvg } from "../traces/scatter.js";
import { mountTrafficEditor } from "../traffic/editor.js";
import { changeNote, changesQuery, latestChangeBefore, routedService } from "../traffic/recent.js";
import { formatBytesRate, formatMs, formatPercent, formatRate, windowSeconds } from "./format.js";
import { viewFromSearch } from "./urlstate.js";

const uPlot = globalThis.uPlot;

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function rows(pairs) {
  return `<dl class="panel-facts">${pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>`;
}

/** Links to the detail pages of a node: its own, and its service's / app's when it has them. */
function pageLinks(n) {
  if (!n || !n.namespace || n.is_group && !n.app) return [];
  const href = (kinds, name) => `/namespaces/${encodeURIComponent(n.namespace)}/${kinds}/${encodeURIComponent(name)}`;
  const links = [];
  if (n.kind === "workload" && n.workload) links.push(["workload", href("workloads", n.workload)]);
  if (n.service && ["workload", "service", "app"].includes(n.kind)) links.push(["service", href("services", n.service)]);
  if (n.app && ["workload", "app"].includes(n.kind)) links.push(["app", href("apps", n.app)]);
  return links;
}

function linkList(n, testid) {
  const links = pageLinks(n);
  if (!links.length) return null;
  return `<span data-testid="${testid}">${links.map(([label, href]) => `<a href="${esc(href)}">${esc(label)}</a>`).join(" · ")}</span>`;
}

/** One direction's health for the panel: its badge and, when unhealthy, its reason. */
function directionHealth(health, reason, testid) {
  if (!health) return null;
  const why = reason ? ` <span class="muted">${esc(reason)}</span>` : "";
  return `<span class="health health-${esc(health)}" data-testid="${testid}">${esc(health)}</span>${why}`;
}

function healthBadge(health) {
  return `<span class="health health-${esc(health)}" data-testid="panel-health">${esc(health)}</span>`;
}

function breakdown(title, map, total, testid) {
  const entries = Object.entries(map ?? {}).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return "";
  const items = entries.map(([k, v]) => `<tr><td><code>${esc(k)}</code></td><td>${formatRate(v)}</td><td>${total ? formatPercent(v / total) : "–"}</td></tr>`).join("");
  return `<h3>${esc(title)}</h3><table class="panel-table" data-testid="${testid}"><tbody>${items}</tbody></table>`;
}

const API_ROOT = "/api/v1/";
const TRACE_PAGE = "/traces/";
const TRACES_CSS = new URL("../../css/traces.css", import.meta.url).href;

/** "15 s", "2 min" for a step in seconds. */
function formatStep(seconds) {
  return seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}


/** Traces asked for: more for a longer window, so the scatter shows its shape. */
function limitFor(windowS) {
  if (windowS <= 600) return 20;
  if (windowS <= 3600) return 50;
  return 100;
}

/** `{namespace, app}` a trace search can use for node `n` (null when it has no app). */
function appOf(n) {
  const app = n?.app ?? (n?.kind === "service" ? n?.service : null);
  if (!n || !app || !n.namespace || app === "unknown" || n.namespace === "unknown") return null;
  return { namespace: n.namespace, app };
}

// The detail pages' entity of a graph node: `/api/v1/namespaces/{ns}/{kinds}/{name}`.
const ENTITY_OF_KIND = { workload: ["workloads", (n) => n.workload], app: ["apps", (n) => n.app], service: ["services", (n) => n.service] };
const SPARK_TIMEOUT_MS = 20_000;

function entityOf(n) {
  const entry = n && ENTITY_OF_KIND[n.kind];
  const name = entry && entry[1](n);
  if (!entry || !name || name === "unknown" || !n.namespace || n.namespace === "unknown") return null;
  return { kinds: entry[0], namespace: n.namespace, name };
}

const isVersioned = (n) => n?.kind === "app" && !n.is_group && Boolean(n.version);
const shownName = (n) => (isVersioned(n) ? `${n.app} ${n.version}` : n.name);

/**
 * What the sparklines of a selection read from the metrics range API: `{entity, direction, by,
 * pick, spans}` — the entity's inbound (or, for a node nothing calls, outbound) series, split
 * `by` a label whose value `pick` is the selection's share ("" / null: the entity's total), and
 * `spans`, the words that say what the lines cover. An edge is its target's inbound requests
 * split by the caller (its workload, else its app); into a version, split by that version, from
 * every caller (the range API splits by one label). Null when there is no entity to read.
 */
export function sparkSource(selection, nodes, inboundEdges) {
  if (!selection) return null;
  if (selection.group === "nodes") {
    const n = nodes.get(selection.id);
    const entity = entityOf(n);
    if (!entity) return null;
    const direction = inboundEdges(n.id) > 0 || n.kind === "service" ? "inbound" : "outbound";
    const by = isVersioned(n) ? (direction === "inbound" ? "destination_version" : "source_version") : "";
    return { entity, direction, by, pick: by ? n.version : null,
      spans: `${direction === "inbound" ? "Requests to" : "Requests from"} ${shownName(n)}` };
  }
  const edge = selection.edge;
  const source = nodes.get(edge?.source);
  const target = nodes.get(edge?.target);
  const entity = entityOf(target);
  if (!entity) return null;
  if (isVersioned(target)) {
    return { entity, direction: "inbound", by: "destination_version", pick: target.version, spans: `Requests to ${shownName(target)} from every caller` };
  }
  if (source?.kind === "workload" && source.workload && source.workload !== "unknown") {
    return { entity, direction: "inbound", by: "source_workload", pick: source.workload, spans: `Requests from ${source.workload} to ${shownName(target)}` };
  }
  if (source?.app && source.app !== "unknown") {
    const every = isVersioned(source) ? " (every version)" : "";
    return { entity, direction: "inbound", by: "source_app", pick: source.app, spans: `Requests from ${source.app}${every} to ${shownName(target)}` };
  }
  return { entity, direction: "inbound", by: "", pick: null, spans: `Requests to ${shownName(target)} from every caller` };
}

/** Step of a sparkline over `windowS`: about 60 points, never under 15 s. */
export function sparkStepS(windowS) {
  return Math.max(15, Math.ceil(windowS / 60));
}

/** `[t…]` and the values of `metric` for `pick` (the entity total when `by` is "") of a range answer. */
export function pickSeries(body, metric, by, pick) {
  const entries = body?.series?.[metric] ?? [];
  const entry = entries.find((e) => (by ? e.labels?.[by] === pick : Object.keys(e.labels ?? {}).length === 0));
  const points = entry?.points ?? [];
  return { t: points.map(([t]) => t), values: points.map(([, v]) => v) };
}

/**
 * What narrows one end of an edge's trace search: its workload on a workload node, else its
 * version (a versioned-app node), else nothing (the app alone). `end` is "source" or "target".
 */
export function traceNarrowing(n, end) {
  if (n?.kind === "workload" && n.workload) return [`${end}_workload`, n.workload];
  if (n?.version) return [`${end}_version`, n.version];
  return null;
}

/** "workload productpage-v1", "version v2" or "app reviews": what the API matched an end on. */
export function describeMatch(matchedOn, params, end) {
  if (matchedOn === "workload") return `workload ${params.get(`${end}_workload`)}`;
  if (matchedOn === "version") return `version ${params.get(`${end}_version`)}`;
  return `app ${String(params.get(end) ?? "").split("/").pop()}`;
}

export class SidePanel {
  constructor({ root, model, nodeName, onClose, onWindow }) {
    this.root = root;
    this.model = model;
    this.nodeName = nodeName;
    this.kind = root.querySelector("#panel-kind");
    this.title = root.querySelector("#panel-title");
    this.body = root.querySelector("#panel-body");
    this.sparks = root.querySelector("#panel-sparks");
    this.selection = null;
    this.plots = [];
    this.tracesAbort = null;
    this.sparkAbort = null;
    this.sparkPendingUrl = null;
    this.spark = null; // {url, at} of the sparklines' last read
    this.onWindow = onWindow;
    this.routing = null; // {url, at, change} of the routing note's last read
    this.routingAbort = null;
    this.routingPendingUrl = null;
    this.routingNote = document.createElement("div");
    this.routingNote.className = "notice notice-info routing-note";
    this.routingNote.setAttribute("role", "status");
    this.routingNote.setAttribute("data-testid", "panel-routing-note");
    this.routingNote.hidden = true;
    this.body.before(this.routingNote);
    this.routingNote.addEventListener("click", (event) => {
      const button = event.target.closest("[data-window]");
      if (button && this.onWindow) this.onWindow(button.dataset.window);
    });
    // An apply from this page's editor: read the note again at once.
    window.addEventListener("meshui:traffic-changed", () => { this.routing = null; this.#loadRoutingNote(); });
    root.querySelector("#panel-close").addEventListener("click", () => onClose());
    if (!document.querySelector(`link[href="${TRACES_CSS}"]`)) {
      document.head.insertAdjacentHTML("beforeend", `<link rel="stylesheet" href="${TRACES_CSS}">`);
    }
    this.traces = document.createElement("details");
    this.traces.className = "panel-traces";
    this.traces.setAttribute("data-testid", "panel-traces");
    this.traces.innerHTML = `<summary>Traces</summary><div class="panel-traces-body" data-testid="panel-traces-body"></div>`;
    this.tracesBody = this.traces.querySelector(".panel-traces-body");
    this.traces.addEventListener("toggle", () => { if (this.traces.open) this.#loadTraces(); else this.#abortTraces(); });
    root.append(this.traces);
    // The panel widens while its traffic editor is open: the sparklines follow its width.
    new ResizeObserver(() => this.#fitSparks()).observe(this.sparks);
  }

  #fitSparks() {
    const width = Math.max(200, this.sparks.clientWidth - 8);
    for (const plot of this.plots) if (plot.width !== width) plot.setSize({ width, height: 60 });
  }

  /** Show `{group, id}` (null hides the panel). */
  show(selection) {
    this.selection = selection;
    this.#destroyPlots();
    this.#abortSparks();
    this.spark = null;
    this.#abortRouting();
    this.routing = null;
    this.routingNote.hidden = true;
    this.#resetTraces();
    mountTrafficEditor(this.root, selection?.group === "nodes" ? this.model.nodes.get(selection.id) : null);
    if (!selection) { this.root.hidden = true; return; }
    this.model.watch(`${selection.group}:${selection.id}`);
    this.root.hidden = false;
    this.render();
  }

  /** Re-render after the model changed; closes the panel when its element disappeared. */
  render() {
    const sel = this.selection;
    if (!sel) return;
    const item = this.model[sel.group].get(sel.id);
    if (!item) {
      this.body.innerHTML = `<p class="muted">This ${sel.group === "nodes" ? "node" : "edge"} is no longer in the graph.</p>`;
      this.#destroyPlots();
      return;
    }
    if (sel.group === "nodes") this.#renderNode(item);
    else this.#renderEdge(item);
    this.#loadSparks();
    this.#loadRoutingNote();
  }

  // ---- routing changed inside the window (the audit log, through the changes API) ----------

  #abortRouting() {
    if (this.routingAbort) this.routingAbort.abort();
    this.routingAbort = null;
  }

  /** Read the latest change of the selection's service in the window (again 15 s later while live), then say it. */
  async #loadRoutingNote() {
    const sel = this.selection;
    const subject = routedService(sel, this.model.nodes, this.model.edges);
    if (!subject) { this.#abortRouting(); this.routingNote.hidden = true; return; }
    const view = viewFromSearch(location.search);
    const windowS = windowSeconds(view.window);
    const endS = view.queryTime ?? Date.now() / 1000;
    // A live window slides: the query's `since` moves each minute, not at each update.
    const url = changesQuery(subject, view.queryTime ?? Math.ceil(endS / 60) * 60, windowS + 60);
    const fresh = this.routing && this.routing.url === url && Date.now() - this.routing.at < 15_000;
    if (fresh || (this.routingAbort && this.routingPendingUrl === url)) { this.#renderRoutingNote(view, windowS); return; }
    this.#abortRouting();
    const controller = new AbortController();
    this.routingAbort = controller;
    this.routingPendingUrl = url;
    let result;
    try { result = await getJson(url, controller.signal); } catch { return; }
    if (this.routingAbort !== controller) return;
    this.routingAbort = null;
    // No read of the audit log (signed out, no traffic app, database down): no note, as before.
    this.routing = { url, at: Date.now(), change: result.ok ? latestChangeBefore(result.body.changes, endS) : null };
    this.#renderRoutingNote(viewFromSearch(location.search), windowS);
    for (const plot of this.plots) plot.redraw(false, false); // the sparklines' change mark
  }

  #renderRoutingNote(view, windowS) {
    const endS = view.queryTime ?? Date.now() / 1000;
    const change = this.routing?.change;
    const note = changeNote(change, endS, windowS, view.window, view.queryTime === null);
    if (!note) { this.routingNote.hidden = true; return; }
    const link = `/changes?namespace=${encodeURIComponent(change.namespace)}&service=${encodeURIComponent(change.service)}#change-${change.id}`;
    this.routingNote.hidden = false;
    this.routingNote.dataset.changeId = String(change.id);
    this.routingNote.innerHTML = `<p><strong>⟳ ${esc(change.service)}:</strong> <span data-testid="routing-note-text">${esc(note.text)}</span> <a href="${esc(link)}">change #${esc(change.id)}</a></p>`
      + (note.canNarrow && this.onWindow ? `<button type="button" data-window="1m" data-testid="routing-note-narrow">Show the last 1m</button>` : "");
  }

  #renderNode(n) {
    const t = this.model.nodeTraffic(n.id);
    this.kind.textContent = `${n.kind}${n.is_gateway ? " · gateway" : ""}`;
    this.title.textContent = n.name;
    this.body.innerHTML = healthBadge(n.health) + (n.health_reason ? ` <span class="muted" data-testid="panel-health-reason">${esc(n.health_reason)}</span>` : "")
      + (n.error_origin ? `<p class="origin-note" data-testid="panel-origin">⚑ Errors originate here: its inbound requests fail while its own calls do not.</p>` : "")
      + rows([
        ["Health in", directionHealth(n.inbound_health, n.inbound_health_reason, "panel-inbound-health")],
        ["Health out", directionHealth(n.outbound_health, n.outbound_health_reason, "panel-outbound-health")],
        ["Pages", linkList(n, "panel-links")],
      ]) + rows([
      ["Namespace", esc(n.namespace)], ["App", esc(n.app)], ["Version", esc(n.version)],
      ["Workload", esc(n.workload)], ["Service", esc(n.service)], ["Cluster", esc(n.cluster)],
    ]) + `<h3>Traffic</h3>` + rows([
      ["Inbound", `${formatRate(t.inRate)} <span class="muted">(${t.inEdges} edges)</span>`],
      ["Outbound", `${formatRate(t.outRate)} <span class="muted">(${t.outEdges} edges)</span>`],
      ["Errors in", formatPercent(t.errorShare)], ["4xx in", formatPercent(t.clientErrorShare)],
      ["p50 / p95 / p99 (worst inbound)", `${formatMs(t.p50)} / ${formatMs(t.p95)} / ${formatMs(t.p99)}`],
      ["mTLS in", t.mtlsShare === null ? null : formatPercent(t.mtlsShare)],
      ["TCP in / out", t.inTcp || t.outTcp ? `${formatBytesRate(t.inTcp)} / ${formatBytesRate(t.outTcp)}` : null],
    ]);
  }

  #renderEdge(e) {
    this.kind.textContent = `edge · ${e.protocol}`;
    this.title.textContent = `${this.nodeName(e.source)} → ${this.nodeName(e.target)}`;
    const tcp = e.tcp_sent_bytes_per_s !== null || e.tcp_received_bytes_per_s !== null;
    const lat = e.latency_ms ?? {};
    const source = this.model.nodes.get(e.source);
    const target = this.model.nodes.get(e.target);
    this.body.innerHTML = healthBadge(e.health) + (e.health_reason ? ` <span class="muted">${esc(e.health_reason)}</span>` : "") + rows([
      [`From ${this.nodeName(e.source)}`, linkList(source, "panel-links-source")],
      [`To ${this.nodeName(e.target)}`, linkList(target, "panel-links-target")],
    ]) + rows([
      ["Request rate", e.protocol === "tcp" ? null : formatRate(e.request_rate)],
      ["Errors", e.protocol === "tcp" ? null : formatPercent(e.error_rate)],
      ["4xx", e.protocol === "tcp" ? null : formatPercent(e.client_error_rate)],
      ["p50 / p95 / p99", lat.p50 == null ? null : `${formatMs(lat.p50)} / ${formatMs(lat.p95)} / ${formatMs(lat.p99)}`],
      ["Mean latency", lat.avg == null ? null : formatMs(lat.avg)],
      ["TCP sent / received", tcp ? `${formatBytesRate(e.tcp_sent_bytes_per_s)} / ${formatBytesRate(e.tcp_received_bytes_per_s)}` : null],
      ["mTLS share", e.mtls_ratio == null ? null : formatPercent(e.mtls_ratio)],
    ]) + breakdown("Response codes", e.responses, e.request_rate, "panel-responses")
      + breakdown("gRPC statuses", e.grpc_responses, e.request_rate, "panel-grpc")
      + breakdown("Envoy response flags", e.flags, e.request_rate, "panel-flags");
  }

  // ---- sparklines: the selected window from the metrics range API ---------------------

  /** The range API URL of the selection's sparklines and what they span, or null. */
  #sparkQuery() {
    const sel = this.selection;
    const selection = sel?.group === "edges" ? { ...sel, edge: this.model.edges.get(sel.id) } : sel;
    const source = sparkSource(selection, this.model.nodes, (id) => this.model.nodeTraffic(id).inEdges);
    if (!source) return null;
    const view = viewFromSearch(location.search);
    const stepS = sparkStepS(windowSeconds(view.window));
    const p = new URLSearchParams({ direction: source.direction, window: view.window, step: `${stepS}s`, rate_interval: "1m" });
    if (source.by) p.set("by", source.by);
    if (view.queryTime !== null) p.set("query_time", String(view.queryTime));
    const { kinds, namespace, name } = source.entity;
    return { url: `${API_ROOT}namespaces/${encodeURIComponent(namespace)}/${kinds}/${encodeURIComponent(name)}/metrics?${p}`, source, stepS, window: view.window, live: view.queryTime === null };
  }

  #abortSparks() {
    if (this.sparkAbort) this.sparkAbort.abort();
    this.sparkAbort = null;
  }

  /** Read the sparklines when the selection or window changed, or (live) a step after the last read. */
  async #loadSparks() {
    const query = this.#sparkQuery();
    if (!query) {
      this.#abortSparks();
      this.#destroyPlots();
      this.sparks.innerHTML = `<p class="muted small" data-testid="spark-none">No sparklines: this ${this.selection?.group === "edges" ? "edge's target" : "node"} has no service, workload or app page to read them from.</p>`;
      this.spark = null;
      return;
    }
    const fresh = this.spark && this.spark.url === query.url && (!query.live || Date.now() - this.spark.at < query.stepS * 1000);
    if (fresh || (this.sparkAbort && this.sparkPendingUrl === query.url)) return;
    this.#abortSparks();
    const controller = new AbortController();
    this.sparkAbort = controller;
    this.sparkPendingUrl = query.url;
    if (!this.plots.length) this.sparks.innerHTML = `<p class="muted small" data-testid="spark-loading">Reading the last ${esc(query.window)}…</p>`;
    const timer = setTimeout(() => controller.abort(), SPARK_TIMEOUT_MS);
    let result;
    try { result = await getJson(query.url, controller.signal); } catch {
      result = this.sparkAbort === controller ? { ok: false, error: { code: "timeout", message: `meshui did not answer within ${SPARK_TIMEOUT_MS / 1000} s.` } } : null;
    } finally { clearTimeout(timer); }
    if (!result || this.sparkAbort !== controller) return;
    this.sparkAbort = null;
    this.spark = { url: query.url, at: Date.now() };
    if (!result.ok) {
      this.#destroyPlots();
      this.sparks.innerHTML = `<p class="muted small" role="status" data-testid="spark-error" data-code="${esc(result.error.code)}">Sparklines unavailable: ${esc(result.error.message || result.error.code)}</p>`;
      return;
    }
    this.#renderSparks(query, result.body);
  }

  #renderSparks(query, body) {
    const { by, pick, spans } = query.source;
    const pickOf = (metric) => pickSeries(body, metric, by, pick);
    const rate = pickOf("request_rate");
    const t = rate.t;
    const series = [
      { name: "rate", label: "Rate (req/s)", values: rate.values, color: "#0072B2", fmt: formatRate, span: 1 },
      { name: "error", label: "Errors", values: pickOf("error_rate").values, color: "#D55E00", fmt: formatPercent, span: 0.01 },
      { name: "p95", label: "p95", values: pickOf("latency_p95_ms").values, color: "#CC79A7", fmt: formatMs, span: 1 },
    ];
    const latest = (s) => s.fmt([...s.values].reverse().find((v) => v !== null && v !== undefined) ?? null);
    const heading = `<h3 data-testid="spark-window">Last ${esc(query.window)} <span class="muted small spark-count">(${t.length} points, every ${esc(formatStep(body.step_s ?? query.stepS))})</span></h3>`
      + `<p class="muted small" data-testid="spark-spans">${esc(spans)}</p>`;
    this.#destroyPlots();
    this.sparks.innerHTML = heading;
    if (!t.length || series[0].values.every((v) => v === null)) {
      this.sparks.insertAdjacentHTML("beforeend", `<p class="muted small" data-testid="spark-empty">No requests in the last ${esc(query.window)}.</p>`);
      return;
    }
    const width = Math.max(200, this.sparks.clientWidth - 8);
    for (const s of series) {
      const box = document.createElement("div");
      box.className = "spark";
      box.setAttribute("data-testid", `spark-${s.name}`);
      this.sparks.append(box);
      this.plots.push(new uPlot({
        width, height: 60, class: "spark-plot", legend: { show: false }, cursor: { show: false },
        // A flat line (e.g. no errors at all) keeps a scale that means something for its unit,
        // instead of uPlot's default 0..100 (which reads as 10000% for a ratio).
        scales: { x: { time: true }, y: { range: (u, min, max) => [Math.min(0, min ?? 0), Math.max(max ?? 0, s.span)] } },
        axes: [{ show: false }, { size: 52, ticks: { show: false }, grid: { show: false }, splits: (u, i, min, max) => [min, max], values: (u, vals) => vals.map(s.fmt), font: "10px system-ui", stroke: getComputedStyle(document.body).color }],
        series: [{}, { label: s.label, stroke: s.color, width: 1.5, fill: `${s.color}22`, points: { show: t.length < 3 } }],
        hooks: { draw: [(u) => this.#markRoutingChange(u, box)] },
      }, [t, s.values], box));
      const caption = document.createElement("p");
      caption.className = "spark-caption";
      caption.textContent = `${s.label} · latest ${latest(s)}`;
      box.prepend(caption);
    }
  }

  /**
   * A dashed vertical line where the selection's routing changed, when that falls inside the
   * sparkline: left of it the old routing, right of it the new (`box.dataset.routingMark` says
   * which change it marks, for tests and the curious).
   */
  #markRoutingChange(u, box) {
    const change = this.routing?.change;
    const subject = routedService(this.selection, this.model.nodes, this.model.edges);
    delete box.dataset.routingMark;
    if (!change || !subject || change.namespace !== subject.namespace || change.service !== subject.service) return;
    // A change after the last point but before the next one is marked at the right edge.
    const times = u.data[0];
    const step = times.length > 1 ? times[1] - times[0] : 0;
    const at = Math.min(Date.parse(change.time) / 1000, u.scales.x.max);
    if (!(at >= u.scales.x.min && Date.parse(change.time) / 1000 <= u.scales.x.max + step)) return;
    const x = u.valToPos(at, "x", true);
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = getComputedStyle(document.body).color;
    ctx.lineWidth = 1;
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
    box.dataset.routingMark = String(change.id);
  }

  // ---- traces (only fetched while the section is open) ---------------------------------

  /** The search URL of the selection's traces, or null when it has no app to search for. */
  #tracesQuery() {
    const sel = this.selection;
    if (!sel) return null;
    const view = viewFromSearch(location.search);
    const p = new URLSearchParams({ window: view.window, limit: String(limitFor(windowSeconds(view.window))) });
    if (view.queryTime !== null) p.set("query_time", String(view.queryTime));
    if (sel.group === "nodes") {
      const app = appOf(this.model.nodes.get(sel.id));
      if (!app) return null;
      return `${API_ROOT}namespaces/${encodeURIComponent(app.namespace)}/services/${encodeURIComponent(app.app)}/traces?${p}`;
    }
    const edge = this.model.edges.get(sel.id);
    const source = appOf(this.model.nodes.get(edge?.source));
    const target = appOf(this.model.nodes.get(edge?.target));
    if (!source || !target) return null;
    p.set("source", `${source.namespace}/${source.app}`);
    p.set("target", `${target.namespace}/${target.app}`);
    // An edge between workloads (or versions) lists only traces that crossed that edge.
    for (const [end, id] of [["source", edge.source], ["target", edge.target]]) {
      const narrowing = traceNarrowing(this.model.nodes.get(id), end);
      if (narrowing) p.set(...narrowing);
    }
    return `${API_ROOT}edges/traces?${p}`;
  }

  #abortTraces() {
    if (this.tracesAbort) this.tracesAbort.abort();
    this.tracesAbort = null;
  }

  #resetTraces() {
    this.#abortTraces();
    this.traces.open = false;
    this.tracesBody.innerHTML = "";
    delete this.traces.dataset.state;
  }

  async #loadTraces() {
    this.#abortTraces();
    const url = this.#tracesQuery();
    if (!url) {
      this.tracesBody.innerHTML = `<p class="muted panel-traces-message">No traces for this ${this.selection?.group === "edges" ? "edge" : "node"}: it has no app in the mesh.</p>`;
      this.traces.dataset.state = "none";
      return;
    }
    const controller = new AbortController();
    this.tracesAbort = controller;
    this.traces.dataset.state = "loading";
    this.tracesBody.innerHTML = `<p class="muted panel-traces-message">Reading traces…</p>`;
    let result;
    try { result = await getJson(url, controller.signal); } catch { return; }
    if (this.tracesAbort !== controller) return;
    this.tracesAbort = null;
    if (!result.ok) {
      const { title, message, hint, code } = describeError(result.error);
      this.traces.dataset.state = "error";
      this.tracesBody.innerHTML = `<div class="panel-traces-message" role="alert" data-testid="panel-traces-error" data-code="${esc(code)}"><strong>${esc(title)}</strong><p>${esc(message)}</p>${hint ? `<p class="muted">${esc(hint)}</p>` : ""}</div>`;
      return;
    }
    this.#renderTraces(result.body.traces, new URL(url, location.href).searchParams, result.body.matched_on);
  }

  #renderTraces(traces, params, matchedOn) {
    const view = viewFromSearch(location.search);
    const endUs = (view.queryTime ?? Date.now() / 1000) * 1e6;
    const startUs = endUs - windowSeconds(view.window) * 1e6;
    const href = (t) => `${TRACE_PAGE}${encodeURIComponent(t.trace_id)}?window=${encodeURIComponent(view.window)}`;
    this.traces.dataset.state = "loaded";
    // An edge's search says which spans counted as its ends (the API's matched_on).
    const matched = matchedOn
      ? `<p class="muted small" data-testid="panel-traces-matched" data-source="${esc(matchedOn.source)}" data-target="${esc(matchedOn.target)}">Calls from ${esc(describeMatch(matchedOn.source, params, "source"))} to ${esc(describeMatch(matchedOn.target, params, "target"))}${matchedOn.source === "app" && matchedOn.target === "app" ? " (any workload or version)" : ""}</p>`
      : "";
    if (!traces.length) {
      this.tracesBody.innerHTML = matched + `<p class="muted panel-traces-message" data-testid="panel-traces-empty">No traces in the last ${esc(view.window)}.</p>`;
      return;
    }
    const errors = traces.filter((t) => t.has_error).length;
    const slowest = [...traces].sort((a, b) => b.duration_ms - a.duration_ms).slice(0, 5);
    this.tracesBody.innerHTML = matched + `<p class="muted small">${traces.length} trace${traces.length > 1 ? "s" : ""} (newest ${esc(params.get("limit"))} at most) in the last ${esc(view.window)}${errors ? ` · ${errors} with errors` : ""}</p>`
      + scatterSvg(traces, { startUs, endUs, href })
      + `<div class="trace-scatter-legend"><span>● trace</span><span>✖ trace with an error</span></div>`
      + `<h3>Slowest</h3><ul class="trace-list" data-testid="trace-list">${slowest.map((t) => `<li><a href="${esc(href(t))}" data-testid="trace-link" data-trace-id="${esc(t.trace_id)}">${t.has_error ? `<span class="is-error" title="error">✖ </span>` : ""}${esc(new Date(t.start_time_us / 1000).toLocaleTimeString())} · ${t.span_count} spans · ${esc(t.services.length)} services</a><span>${esc(formatDuration(t.duration_ms))}</span></li>`).join("")}</ul>`;
  }

  #destroyPlots() {
    for (const plot of this.plots) plot.destroy();
    this.plots = [];
    this.sparks.innerHTML = "";
  }
}
