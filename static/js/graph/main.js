// The graph page: reads the server's initial data (json_script "graph-initial") and the
// URLs in data-* attributes, and wires the canvas, the live feed, the toolbar and the panel.
// `window.meshuiGraph` exposes the Cytoscape instance, the model and a `ready` promise (first
// frame drawn) for the browser tests and bench/browser_render.py.

import { getIstioConfig, getTraffic } from "../traffic/api.js";
import { loadRouting, nodeServiceKey, routingStatusText } from "./badges.js";
import { GraphCanvas, LARGE_NODES } from "./canvas.js";
import { compile } from "./findhide.js";
import { formatAge, windowSeconds } from "./format.js";
import { LiveFeed } from "./live.js";
import { GraphModel, isStructural } from "./model.js";
import { NamespacePicker } from "./namespaces.js";
import { SidePanel } from "./panel.js";
import { changedServices, windowChangesQuery } from "../traffic/recent.js";
import { apiQuery, searchFromView, viewFromSearch } from "./urlstate.js";
import { WINDOW_RULE, initialWindow, rememberWindow } from "../window-choice.js";

const page = document.getElementById("graph-page");
const initial = JSON.parse(document.getElementById("graph-initial").textContent);
const toolbar = document.getElementById("graph-toolbar");
toolbar.addEventListener("submit", (event) => event.preventDefault()); // its controls apply as they change
const summaryEl = document.getElementById("graph-summary");
const liveEl = document.getElementById("live-indicator");
const filterErrorEl = document.getElementById("filter-error");
const dark = window.matchMedia("(prefers-color-scheme: dark)");

const expectLarge = (initial.graph?.nodes.length ?? 0) > LARGE_NODES;
let view = viewFromSearch(location.search);
// The window carried from another page (the URL's wins): when it differs from the one the
// server drew the first graph for, that graph is skipped and the live feed reads the right one.
const carriedWindow = initialWindow(location.search, null, view.window);
const windowCarried = carriedWindow !== view.window;
if (windowCarried) {
  view = { ...view, window: carriedWindow };
  history.replaceState(null, "", `${location.pathname}${searchFromView(view)}`);
}
toolbar.window.title = WINDOW_RULE;
// Thousands of edge labels cost more to lay out than the graph itself: off unless asked for.
if (expectLarge && !new URLSearchParams(location.search).has("labels")) view = { ...view, labels: "none" };
let lastUpdateMs = null;
let pendingFresh = true;
/** The next snapshot only adds or removes idle elements: keep every node already placed. */
let pendingKeep = false;
let filterCounts = { found: 0, hidden: 0 };
let findTest = null;
let hideTest = null;
let hasGraph = false;
// A page opened with `find` in its URL ("Show in graph" from a detail page) selects and centres
// the node found, when exactly one is, once its first graph is drawn.
let selectFoundOnOpen = Boolean(view.find);

const model = new GraphModel();
const canvas = new GraphCanvas({
  expectLarge,
  renderer: new URLSearchParams(location.search).get("renderer") ?? "auto",
  container: document.getElementById("graph-canvas"),
  workerUrl: page.dataset.workerUrl,
  vendorUrl: new URL(page.dataset.vendorUrl, location.href).href,
  scheme: dark.matches ? "dark" : "light",
  onSelect: (selection) => select(selection),
});
const panel = new SidePanel({
  root: document.getElementById("graph-panel"),
  model,
  nodeName: (id) => model.nodes.get(id)?.name ?? id,
  onClose: () => select(null),
  onWindow: (window) => { changeView({ window }); setControls(); },
});
const namespaces = new NamespacePicker({
  root: document.getElementById("ns-select"),
  url: page.dataset.namespacesUrl,
  onChange: (selected) => changeView({ namespaces: selected }),
});

let resolveReady;
const ready = new Promise((resolve) => { resolveReady = resolve; });
window.meshuiGraph = {
  cy: canvas.cy, model, ready, layoutDone: null, renderer: canvas.renderer, firstFrameMs: null,
  /** What the traffic animation drew in its last frame: `{edges, dots, errorDots}`. */
  flow: () => canvas.flowFrame,
};

// ---- states ----------------------------------------------------------------------------

const STATES = ["loading", "empty", "not-configured", "upstream-error", "invalid"];

function showState(name, message) {
  for (const state of STATES) {
    const el = document.getElementById(`state-${state}`);
    el.hidden = state !== name;
    if (state === name && message !== undefined) {
      const target = el.querySelector(".state-message");
      if (target) target.textContent = message;
    }
  }
  page.dataset.state = name ?? "graph";
}

// ---- data in -------------------------------------------------------------------------------

function afterChange(changes) {
  if (findTest || hideTest) applyFilters();
  toolbar.anim.disabled = !canvas.canAnimate;
  toolbar.anim.title = canvas.canAnimate ? "" : "Too many edges to animate";
  lastUpdateMs = Date.now();
  hasGraph = true;
  renderSummary();
  panel.render();
  renderRoutingPanel();
  showState(model.nodes.size === 0 ? "empty" : null);
  return changes;
}

let resolveFirstLiveDraw = null;
function onSnapshot(graph, meta) {
  const fresh = pendingFresh;
  const keep = pendingKeep && !fresh;
  pendingFresh = false;
  pendingKeep = false;
  const changes = model.applySnapshot(graph, { seq: meta.seq, viewKey: meta.viewKey });
  const drawn = updateCanvas(changes, {
    fresh: fresh || (!keep && isStructural(changes) && model.nodes.size === changes.nodes.added.length),
    keepPlaced: keep,
  });
  afterChange(changes);
  drawn.then(() => {
    if (findTest || hideTest) applyFilters();
    if (selectFoundOnOpen) selectTheOneFound();
  });
  if (resolveFirstLiveDraw) { drawn.then(resolveFirstLiveDraw); resolveFirstLiveDraw = null; }
  return drawn;
}

// The node selected on open stays centred through the layouts of the first updates, until the
// operator touches the canvas.
let centredOnOpen = null;

function selectTheOneFound() {
  selectFoundOnOpen = false;
  const found = canvas.cy.nodes(".found");
  if (found.length !== 1) return;
  select({ group: "nodes", id: found.id() });
  centredOnOpen = found.id();
  canvas.cy.one("tapstart", () => { centredOnOpen = null; });
  requestAnimationFrame(centreOpened);
}

/** Centre the node selected on open in the part of the canvas the panel leaves free. */
function centreOpened() {
  const node = centredOnOpen && canvas.cy.getElementById(centredOnOpen);
  if (!node || node.empty() || panel.selection?.id !== centredOnOpen) { centredOnOpen = null; return; }
  const free = canvas.cy.width() - (panelEl.hidden ? 0 : panelEl.offsetWidth);
  const at = node.renderedPosition();
  const pan = canvas.cy.pan();
  // At once, not animated: the page is just opening, and an animation queued before the
  // renderer's first frames does not run.
  canvas.cy.stop(true);
  canvas.cy.pan({ x: pan.x + free / 2 - at.x, y: pan.y + canvas.cy.height() / 2 - at.y });
}

function onDelta(delta) {
  const changes = model.applyDelta(delta);
  if (changes.gap) return false;
  updateCanvas(changes);
  afterChange(changes);
  return true;
}

function onStatus(status) {
  setLive(status.state, status.message, status.ageS);
}

function onError(error) {
  if (!hasGraph) summaryEl.textContent = "No graph";
  if (error.code === "invalid_parameter") {
    showState("invalid", `${error.field ?? "view"}: ${error.message}`);
    setLive("error", error.message);
    return;
  }
  if (!hasGraph) {
    showState(error.code === "prometheus_not_configured" ? "not-configured" : "upstream-error", error.message);
  }
  setLive("stale", error.message);
}

/** "3 nodes", "1 edge", "3 nodes, 1 edge" or "0": what a hide expression removed. */
function hiddenText({ hiddenNodes = 0, hiddenEdges = 0 }) {
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const parts = [hiddenNodes ? plural(hiddenNodes, "node") : "", hiddenEdges ? plural(hiddenEdges, "edge") : ""].filter(Boolean);
  return parts.length ? parts.join(", ") : "nothing";
}

function setLive(state, message, ageS) {
  const text = {
    live: "live", stale: "stale", upstream_down: "stale", reconnecting: "reconnecting", connecting: "connecting",
    paused: "paused", historical: "historical", error: "error",
  }[state] ?? state;
  liveEl.dataset.state = state === "upstream_down" ? "stale" : state;
  liveEl.querySelector(".live-text").textContent = ageS ? `${text} · ${formatAge(ageS)}` : text;
  liveEl.title = message ?? "";
}

// ---- summary ---------------------------------------------------------------------------

// How the server read the view from Prometheus (the demo mesh says so elsewhere).
const READ_MODES = {
  recorded: "read from recording rules",
  partly_recorded: "partly from recording rules",
  raw: "read from raw series",
};

function renderSummary() {
  if (!hasGraph) return;
  // App boxes (versioned app graph) are containers, not nodes: counted apart.
  const boxes = [...model.nodes.values()].filter((n) => n.is_group).length;
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const parts = [plural(model.nodes.size - boxes, "node"), plural(model.edges.size, "edge")];
  if (boxes) parts.push(`${boxes} app box${boxes === 1 ? "" : "es"}`);
  if (view.queryTime !== null) parts.push(`at ${new Date(view.queryTime * 1000).toISOString().replace(".000Z", "Z")}`);
  else if (lastUpdateMs !== null) parts.push(`updated ${formatAge((Date.now() - lastUpdateMs) / 1000)}`);
  if (findTest) parts.push(`${filterCounts.found} found`);
  if (hideTest) parts.push(`${hiddenText(filterCounts)} hidden`);
  const undrawn = canvas.undrawnEdgeLabels();
  if (undrawn) parts.push(`${plural(undrawn, "edge label")} too small to draw: zoom in`);
  const readText = READ_MODES[model.readMode];
  if (readText) parts.push(readText);
  summaryEl.textContent = parts.join(" · ");
}
setInterval(renderSummary, 1000);
// Edge labels appear and disappear with the zoom: the summary says so as soon as it rests.
let summaryTimer = null;
canvas.cy.on("zoom", () => { clearTimeout(summaryTimer); summaryTimer = setTimeout(renderSummary, 150); });

// ---- find / hide -----------------------------------------------------------------------

function compileFilters() {
  const errors = [];
  const compiled = {};
  for (const which of ["find", "hide"]) {
    const result = compile(view[which]);
    const input = document.getElementById(`${which}-input`);
    if (result.ok) {
      compiled[which] = result.empty ? null : result.test;
      input.removeAttribute("aria-invalid");
    } else {
      compiled[which] = null;
      input.setAttribute("aria-invalid", "true");
      errors.push(`${which === "find" ? "Find" : "Hide"}: ${result.error.message}`);
    }
  }
  findTest = compiled.find ? (group, id) => compiled.find(model.subject(group, id)) : null;
  hideTest = compiled.hide ? (group, id) => compiled.hide(model.subject(group, id)) : null;
  filterErrorEl.hidden = errors.length === 0;
  filterErrorEl.textContent = errors.join(" · ");
  applyFilters();
}

function applyFilters() {
  filterCounts = canvas.applyFilters(findTest, hideTest);
  renderSummary();
}

// ---- view and toolbar ------------------------------------------------------------------

const API_KEYS = ["namespaces", "graphType", "window", "idle", "queryTime", "refresh"];

function setControls() {
  toolbar.graph_type.value = view.graphType;
  if (![...toolbar.window.options].some((o) => o.value === view.window)) toolbar.window.add(new Option(view.window, view.window));
  toolbar.window.value = view.window;
  toolbar.refresh.value = view.refresh;
  toolbar.labels.value = view.labels;
  toolbar.layout.value = view.layout;
  toolbar.idle.checked = view.idle;
  toolbar.mtls.checked = view.mtls;
  toolbar.anim.checked = view.anim;
  toolbar.find.value = view.find;
  toolbar.hide.value = view.hide;
  namespaces.setSelected(view.namespaces);
}

function changeView(patch, { replace = false } = {}) {
  const before = view;
  if (patch.window && patch.window !== before.window) rememberWindow(patch.window);
  view = { ...view, ...patch };
  const url = `${location.pathname}${searchFromView(view)}`;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  applyView(before);
}

function applyView(before) {
  const dataChanged = API_KEYS.some((k) => JSON.stringify(before[k]) !== JSON.stringify(view[k]));
  if (dataChanged) {
    // Showing or hiding idle nodes only adds or removes them: what is placed stays where it is
    // (and the operator's selection with it); any other new query is a new view, laid out anew.
    const idleOnly = apiQuery({ ...before, idle: view.idle }) === apiQuery(view);
    if (apiQuery(before) !== apiQuery(view) && idleOnly) pendingKeep = true;
    else if (apiQuery(before) !== apiQuery(view)) {
      pendingFresh = true;
      pendingKeep = false;
      select(null);
      showState("loading");
    }
    live.follow(view);
    namespaces.load(view);
  }
  if (JSON.stringify(before.namespaces) !== JSON.stringify(view.namespaces)) refreshRouting();
  if (before.window !== view.window || before.queryTime !== view.queryTime) refreshRoutingChanged();
  if (before.labels !== view.labels) canvas.setLabelMode(view.labels, model);
  if (before.mtls !== view.mtls) canvas.setShowMtls(view.mtls, model);
  if (before.anim !== view.anim) canvas.setAnimation(view.anim);
  if (before.layout !== view.layout) { canvas.layoutName = view.layout; canvas.layout({ fit: true }); }
  if (before.find !== view.find || before.hide !== view.hide) compileFilters();
}

toolbar.addEventListener("change", (event) => {
  const t = event.target;
  const patch = {
    graph_type: { graphType: t.value }, window: { window: t.value }, refresh: { refresh: t.value },
    labels: { labels: t.value }, layout: { layout: t.value }, idle: { idle: t.checked }, mtls: { mtls: t.checked },
    anim: { anim: t.checked },
  }[t.name];
  if (patch) changeView(patch);
});

// Debounced per box: typing in one must not cancel the other's pending change.
const filterTimers = {};
for (const which of ["find", "hide"]) {
  document.getElementById(`${which}-input`).addEventListener("input", (event) => {
    clearTimeout(filterTimers[which]);
    const value = event.target.value;
    filterTimers[which] = setTimeout(() => changeView({ [which]: value }, { replace: true }), 250);
  });
}

document.getElementById("btn-fit").addEventListener("click", () => canvas.fit());
document.getElementById("btn-refresh").addEventListener("click", () => live.refreshNow());
document.getElementById("btn-relayout").addEventListener("click", () => canvas.layout({ fit: true }));

document.addEventListener("keydown", (event) => {
  const typing = event.target.closest("input, select, textarea");
  if (event.key === "Escape" && typing) { event.target.blur(); return; }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "f") { canvas.fit(); event.preventDefault(); }
  else if (event.key === "/") { document.getElementById("find-input").focus(); event.preventDefault(); }
  else if (event.key === "r") { live.refreshNow(); event.preventDefault(); }
  else if (event.key === "Escape") select(null);
});

window.addEventListener("popstate", () => {
  const before = view;
  view = viewFromSearch(location.search);
  setControls();
  applyView(before);
});

dark.addEventListener("change", () => canvas.setScheme(dark.matches ? "dark" : "light"));

function select(selection) {
  canvas.select(selection?.group, selection?.id);
  panel.show(selection);
  renderRoutingPanel();
  revealSelection();
}

// The side panel lies over the canvas (and widens while its traffic editor is open): pan the
// graph so that the selected node, or the middle of the selected edge, is not under it. The
// viewport moves, never the nodes.
const panelEl = document.getElementById("graph-panel");
const REVEAL_MARGIN_PX = 24;
function revealSelection() {
  const sel = panel.selection;
  if (!sel || panelEl.hidden) return;
  const el = canvas.cy.getElementById(sel.id);
  if (el.empty() || !el.visible()) return;
  const box = el.isNode() ? el.renderedBoundingBox() : (({ x }) => ({ x1: x, x2: x }))(el.renderedMidpoint());
  const panelLeft = canvas.cy.width() - panelEl.offsetWidth;
  const overlap = box.x2 - (panelLeft - REVEAL_MARGIN_PX);
  // Never push the element off the canvas's left edge to clear the panel.
  const dx = Math.min(overlap, box.x1 - REVEAL_MARGIN_PX);
  if (!(overlap > 0 && dx > 0)) return;
  // Measured from where the viewport is now: a reveal still under way is replaced, not queued.
  const pan = canvas.cy.pan();
  canvas.cy.stop(true);
  canvas.cy.animate({ pan: { x: pan.x - dx, y: pan.y } }, { duration: 150 });
}
new ResizeObserver(() => revealSelection()).observe(panelEl);

/**
 * `canvas.update`; when it lays the graph out again (which fits it to the whole canvas, under the
 * panel too), the selection is revealed once that layout is done — unless a newer one started.
 */
function updateCanvas(changes, options) {
  const before = canvas.layoutToken;
  const drawn = canvas.update(model, changes, options);
  const layout = canvas.layoutToken;
  if (layout !== before) drawn.then(() => { if (canvas.layoutToken === layout) (centredOnOpen ? centreOpened : revealSelection)(); });
  return drawn;
}

// ---- traffic badges --------------------------------------------------------------------
// The routing of the namespaces in view is read when the view's namespaces change and after
// the traffic editor applies a change; graph updates only redraw labels from what was read.

let routing = new Map();
let routingRead = 0;
/** The last `loadRouting` result and when it arrived (for the legend's status line). */
let routingResult = null;
const routingEl = document.createElement("section");
routingEl.className = "panel-badges";
routingEl.setAttribute("data-testid", "panel-badges");
routingEl.hidden = true;
document.getElementById("panel-body").after(routingEl);
const routingStatusEl = document.getElementById("legend-routing-status");

async function refreshRouting() {
  const token = ++routingRead;
  page.dataset.routing = "loading";
  const result = await loadRouting(view.namespaces, { getIstioConfig, getTraffic });
  // A newer read (another view, another change) wins.
  if (token !== routingRead) return;
  routing = result.badges;
  canvas.setRouting(routing, model);
  renderRoutingPanel();
  page.dataset.routing = result.errors.length ? "error" : "loaded";
  routingResult = { ...result, receivedAt: Date.now() };
  renderRoutingStatus();
}

// A cached istio-config answer says how old it is; the age keeps counting while it shows.
function renderRoutingStatus() {
  if (!routingStatusEl || !routingResult) return;
  routingStatusEl.textContent = routingStatusText(routingResult, (Date.now() - routingResult.receivedAt) / 1000);
}
setInterval(() => { if (routingResult?.syncAgeS != null) renderRoutingStatus(); }, 5000);

/** The side panel's list of the selected node's badges (hidden when it has none). */
function renderRoutingPanel() {
  const sel = panel.selection;
  const node = sel?.group === "nodes" ? model.nodes.get(sel.id) : null;
  const badges = node && !node.is_group ? routing.get(nodeServiceKey(node)) ?? [] : [];
  routingEl.hidden = badges.length === 0;
  const heading = document.createElement("h3");
  heading.textContent = "Routing";
  const list = document.createElement("ul");
  list.className = "badge-list";
  for (const badge of badges) {
    const item = document.createElement("li");
    item.dataset.kind = badge.kind;
    const tag = document.createElement("span");
    tag.className = `route-badge route-badge-${badge.kind}`;
    tag.textContent = badge.short;
    item.append(tag, ` ${badge.detail}`);
    list.append(item);
  }
  routingEl.replaceChildren(heading, list);
}

window.addEventListener("meshui:traffic-changed", () => { refreshRouting(); refreshRoutingChanged(); });

// ---- routing changed inside the window ---------------------------------------------------
// Edges into a service whose routing changed inside the window carry ↻ (their figures mix the
// routing before and after; the side panel says when). Read from the audit log when the view's
// window or time changes, after an Apply, and every 30 s while live.

let routingChangedRead = 0;

async function refreshRoutingChanged() {
  const token = ++routingChangedRead;
  const windowS = windowSeconds(view.window);
  const endS = view.queryTime ?? Date.now() / 1000;
  let changed = new Map();
  try {
    const response = await fetch(windowChangesQuery(endS, windowS), { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.ok) changed = changedServices((await response.json()).changes, endS);
  } catch {
    // No read of the audit log (signed out, server gone): no marks, as before; the panel says more.
  }
  if (token !== routingChangedRead) return;
  canvas.setRoutingChanged(changed, model);
  page.dataset.routingChanged = String(changed.size);
}
setInterval(() => { if (view.queryTime == null && !document.hidden) refreshRoutingChanged(); }, 30_000);

// ---- start -----------------------------------------------------------------------------

const live = new LiveFeed({
  wsUrl: page.dataset.wsUrl,
  apiUrl: page.dataset.apiUrl,
  handlers: { onSnapshot, onDelta, onStatus, onError },
});

setControls();
canvas.layoutName = view.layout;
canvas.labelMode = view.labels;
canvas.showMtls = view.mtls;
canvas.setAnimation(view.anim);
const state = page.dataset.state;
let firstDraw = Promise.resolve();
if (initial.graph && !windowCarried) {
  firstDraw = onSnapshot(initial.graph, { seq: null, viewKey: null });
} else if (windowCarried) {
  // The first graph is the live feed's, for the carried window.
  firstDraw = new Promise((resolve) => { resolveFirstLiveDraw = resolve; });
} else if (initial.error) {
  onError(initial.error);
}
window.meshuiGraph.layoutDone = firstDraw.then(() => true);
compileFilters();
requestAnimationFrame(() => requestAnimationFrame(() => {
  window.meshuiGraph.firstFrameMs = performance.now();
  resolveReady(window.meshuiGraph.firstFrameMs);
}));
if (state !== "invalid_parameter" && state !== "not_configured") live.follow(view);
else setLive("error", initial.error?.message);
namespaces.load(view);
refreshRouting();
refreshRoutingChanged();
