// The traffic editor: weights (sliders that always sum to 100, locks, split evenly, promote,
// roll back), header routes, fault, timeout and retries, circuit breaker; "Review changes" asks
// the API for a dry run (diff + YAML), "Apply" PATCHes with If-Match. Errors of the API's 400
// envelope are shown next to the control named by `field`; a 412 shows "someone changed this —
// reload" with the new state.
//
// One editor, two hosts (`mountTrafficEditor`): a collapsible section of the graph's side panel,
// or a section of a page (the service detail page's "Traffic routing" tab). The host only
// decides where it sits and when it reads; the form, the rules and the API calls are the same.
//
// Only the fields the operator changed are sent (a present field replaces it as a whole), so
// routing meshui does not model — other routes, unknown match kinds — is left alone.

import { applyDataStyles } from "../inline-style.js";
import { getTraffic, patchTraffic } from "./api.js";
import { syncNote } from "./sync.js";
import { compact, normalize, promote, rebalance, rollBack, setWeight, sortSubsets, splitEvenly, total } from "./weights.js";

const CSS = new URL("../../css/traffic.css", import.meta.url).href;
const WRITE_ROLES = new Set(["operator", "admin"]);
const MATCH_KINDS = ["exact", "prefix", "regex"];
const BREAKER_FIELDS = [
  ["max_connections", "Max connections", "int"], ["http1_max_pending_requests", "Max pending requests", "int"],
  ["consecutive_5xx_errors", "Consecutive 5xx errors", "int"], ["interval", "Ejection scan interval", "duration"],
  ["base_ejection_time", "Base ejection time", "duration"], ["max_ejection_percent", "Max ejection %", "int"],
];
const SUBSET_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#7F7F7F"];
/** How often "last synced N s ago" is brought up to date while it shows. */
const SYNC_TICK_MS = 5000;

let counter = 0;
const editors = new WeakMap();

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** A stable JSON text (sorted keys) to compare API values. */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** A form value as the API wants it: "" → null, a number when it reads as one, the text otherwise (the API names it). */
function numberOrText(text) {
  const trimmed = String(text ?? "").trim();
  if (trimmed === "") return null;
  return Number.isFinite(Number(trimmed)) ? Number(trimmed) : trimmed;
}

function textOrNull(text) {
  const trimmed = String(text ?? "").trim();
  return trimmed === "" ? null : trimmed;
}

/** `{namespace, service}` whose routing a graph node shows, or null (unknown, external, no service). */
export function serviceOfNode(node) {
  if (!node || node.is_group && node.kind !== "app") return null;
  if (!node.namespace || node.namespace === "unknown" || node.kind === "unknown" || node.kind === "external") return null;
  const name = node.kind === "service" ? (node.service ?? node.name) : node.app;
  if (!name || name === "unknown" || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) return null;
  return { namespace: node.namespace, service: name };
}

/** The colour of the `index`-th subset (in natural order), shared by the editor and the pages. */
export function subsetColour(index) {
  return SUBSET_COLOURS[index % SUBSET_COLOURS.length];
}

/**
 * The weights as a bar of coloured parts (`subsets` in order, each as wide as its weight and
 * named when wide enough), decorative: the numbers are written next to it. Its colours and
 * widths are data-style declarations: the caller applies them after inserting it (applyDataStyles).
 */
export function weightsBarHtml(subsets, weights) {
  return `<div class="tr-bar" aria-hidden="true">${subsets.map((n, i) => `<span data-bar="${esc(n)}" data-style="background:${subsetColour(i)};flex-basis:${weights[n] ?? 0}%">${(weights[n] ?? 0) >= 12 ? esc(n) : ""}</span>`).join("")}</div>`;
}

/** A one-line summary of a state's routing ("v1 80% · v2 20% · fault · timeout 2s"). */
export function routingSummary(state) {
  const parts = Object.entries(state.weights ?? {}).map(([s, w]) => `${s} ${w}%`);
  if (state.routes?.length) parts.push(`${state.routes.length} match route${state.routes.length > 1 ? "s" : ""}`);
  if (state.fault) parts.push("fault");
  if (state.timeout) parts.push(`timeout ${state.timeout}`);
  if (state.retries) parts.push(`${state.retries.attempts} retries`);
  if (state.circuit_breaker) parts.push("circuit breaker");
  return parts.length ? parts.join(" · ") : "no routing";
}

/** Header routes the form can edit: one header condition → one subset at 100. */
function simpleRoute(route) {
  if (route.match.length !== 1) return null;
  const match = route.match[0];
  const keys = Object.keys(match);
  const weights = Object.entries(route.weights).filter(([, w]) => w > 0);
  if (keys.length !== 1 || keys[0] !== "headers" || Object.keys(match.headers).length !== 1 || weights.length !== 1) return null;
  const [[header, condition]] = Object.entries(match.headers);
  const [[kind, value]] = Object.entries(condition);
  return { header, kind, value, subset: weights[0][0] };
}

/**
 * The subsets the form offers, in natural order: the DestinationRule's (`state.subsets`) and the
 * others the API accepts (`state.available_subsets`: the versions its telemetry saw). Without the
 * second a subset left at 0 by an apply (dropped from the DestinationRule) could not be given
 * traffic again — "promote v1" then "promote v2".
 */
export function subsetsOf(state) {
  return sortSubsets([...new Set([...state.subsets, ...(state.available_subsets ?? [])].map((s) => s.name))]);
}

function draftOf(state) {
  const subsets = subsetsOf(state);
  const kept = [];
  const rows = [];
  for (const route of state.routes) {
    const simple = simpleRoute(route);
    if (simple) rows.push(simple); else kept.push(route);
  }
  const abort = state.fault?.abort;
  const delay = state.fault?.delay;
  const cb = state.circuit_breaker ?? {};
  return {
    subsets,
    weightsOn: Object.keys(state.weights).length > 0,
    weights: normalize(state.weights, subsets),
    locked: new Set(),
    kept,
    rows,
    abortOn: Boolean(abort), abortStatus: String(abort?.http_status ?? 503), abortPercent: String(abort?.percent ?? 10),
    delayOn: Boolean(delay), delay: delay?.fixed_delay ?? "2s", delayPercent: String(delay?.percent ?? 10),
    timeout: state.timeout ?? "",
    attempts: state.retries ? String(state.retries.attempts) : "",
    perTry: state.retries?.per_try_timeout ?? "",
    retryOn: state.retries?.retry_on ?? "",
    breaker: Object.fromEntries(BREAKER_FIELDS.map(([key]) => [key, cb[key] === undefined ? "" : String(cb[key])])),
  };
}

/** "Total 100%", or what is wrong with a total that is not 100. */
function totalText(weights) {
  const sum = total(weights);
  return sum === 100 ? "Total 100%" : `Total ${sum}%: the weights must sum to 100%`;
}

/** The PATCH body: the fields whose form value differs from `state` (empty when nothing changed). */
export function patchFromDraft(state, draft) {
  const wanted = {
    weights: draft.weightsOn ? compact(draft.weights) : {},
    routes: [...draft.kept, ...draft.rows.map((r) => ({
      match: [{ headers: { [r.header.trim()]: { [r.kind]: r.value } } }], weights: { [r.subset]: 100 },
    }))],
    fault: draft.abortOn || draft.delayOn ? {
      abort: draft.abortOn ? { http_status: numberOrText(draft.abortStatus), percent: numberOrText(draft.abortPercent) } : null,
      delay: draft.delayOn ? { fixed_delay: textOrNull(draft.delay), percent: numberOrText(draft.delayPercent) } : null,
    } : null,
    timeout: textOrNull(draft.timeout),
    retries: textOrNull(draft.attempts) === null ? null : {
      attempts: numberOrText(draft.attempts), per_try_timeout: textOrNull(draft.perTry), retry_on: textOrNull(draft.retryOn),
    },
    circuit_breaker: null,
  };
  const breaker = {};
  for (const [key, , type] of BREAKER_FIELDS) {
    const value = type === "int" ? numberOrText(draft.breaker[key]) : textOrNull(draft.breaker[key]);
    if (value !== null) breaker[key] = value;
  }
  if (Object.keys(breaker).length) wanted.circuit_breaker = breaker;
  const current = {
    weights: state.weights, routes: state.routes, fault: state.fault, timeout: state.timeout,
    retries: state.retries, circuit_breaker: state.circuit_breaker,
  };
  const patch = {};
  for (const [key, value] of Object.entries(wanted)) {
    if (canonical(value) === canonical(current[key])) continue;
    // No weights means "remove the default route's weights", which the API spells null.
    patch[key] = key === "weights" && !Object.keys(value).length ? null : value;
  }
  return patch;
}

/** The role shown in the page header (the server rendered it); null when signed out or without one. */
function pageRole() {
  return document.querySelector('[data-testid="user-role"]')?.textContent.trim() || null;
}

class TrafficEditor {
  /**
   * `host`: the element the editor is put in. `inline` false (the graph's side panel): a
   * collapsible "Traffic routing" section placed before the panel's Traces section, read when
   * opened; true (a page): a plain section appended to `host`, read as soon as it shows a
   * service. `onState(state | null, error)` is called with every state the form is built from
   * (read, applied, reloaded) and with the error when the routing cannot be read.
   */
  constructor(host, { inline = false, onState = null } = {}) {
    if (!document.querySelector(`link[href="${CSS}"]`)) document.head.insertAdjacentHTML("beforeend", `<link rel="stylesheet" href="${CSS}">`);
    this.id = `tr${++counter}`;
    this.inline = inline;
    this.onState = onState;
    this.root = document.createElement(inline ? "section" : "details");
    this.root.className = inline ? "page-traffic" : "panel-traffic";
    this.root.dataset.testid = "traffic-editor";
    this.root.innerHTML = inline
      ? `<div class="tr-body tr-wide"></div>`
      : `<summary><span class="tr-title">Traffic routing</span> <span class="tr-summary muted" data-testid="traffic-summary"></span></summary><div class="tr-body"></div>`;
    this.body = this.root.querySelector(".tr-body");
    this.summaryEl = this.root.querySelector(".tr-summary");
    const traces = inline ? null : host.querySelector(".panel-traces");
    if (traces) traces.before(this.root); else host.append(this.root);
    this.target = null;
    this.state = null;
    this.receivedAt = 0;
    this.loading = false;
    this.syncTimer = null;
    this.draft = null;
    this.reviewed = null;
    this.canWrite = WRITE_ROLES.has(pageRole());
    if (!inline) this.root.addEventListener("toggle", () => { if (this.root.open && !this.state) this.load(); });
    this.body.addEventListener("input", (e) => this.#onInput(e));
    this.body.addEventListener("change", (e) => this.#onInput(e));
    this.body.addEventListener("click", (e) => this.#onClick(e));
    this.body.addEventListener("submit", (e) => e.preventDefault()); // Enter in a field never navigates
  }

  /** Show the routing of `target` ({namespace, service}) or hide the editor (null). */
  show(target) {
    if (target && this.target && target.namespace === this.target.namespace && target.service === this.target.service) return;
    this.target = target;
    this.state = null;
    this.reviewed = null;
    this.#stopSyncTick();
    this.root.hidden = !target;
    this.body.innerHTML = "";
    if (this.inline) {
      if (target) this.load();
      return;
    }
    this.root.open = false;
    this.summaryEl.textContent = target ? `${target.service}.${target.namespace}` : "";
  }

  /** Whether the form differs from the state it was built from (or a review is pending). */
  get edited() {
    return Boolean(this.state && (this.reviewed || Object.keys(patchFromDraft(this.state, this.draft)).length));
  }

  /**
   * Read the routing again, without blanking the form, unless the operator is editing it (their
   * edits are never dropped). An unchanged version keeps the form and its last message.
   */
  refresh() {
    if (this.target && !this.loading && !this.edited) this.load({ quiet: Boolean(this.state) });
  }

  async load({ quiet = false } = {}) {
    const target = this.target;
    if (!quiet) this.body.innerHTML = `<p class="muted" role="status">Reading the routing of ${esc(target.service)}…</p>`;
    this.loading = true;
    const result = await getTraffic(target.namespace, target.service).finally(() => { this.loading = false; });
    if (this.target !== target) return;
    // Edits begun while a quiet read was on the way win; so does a form already showing this version.
    if (quiet && (this.edited || result.ok && result.body.version === this.state?.version && !syncNote(result.body))) return;
    if (!result.ok) {
      this.body.innerHTML = `<div class="tr-alert" role="alert" data-testid="traffic-error"><strong>The routing could not be read</strong><p>${esc(result.body.error.message)}</p></div>`;
      this.onState?.(null, result.body.error);
      return;
    }
    this.#setState(result.body);
  }

  #setState(state) {
    this.state = state;
    this.receivedAt = Date.now();
    this.draft = draftOf(state);
    this.reviewed = null;
    if (this.summaryEl) this.summaryEl.textContent = routingSummary(state);
    this.#render();
    this.#startSyncTick();
    this.onState?.(state, null);
  }

  // ---- "last synced N s ago" (answers from the backend's read cache) ---------------------

  #syncText() {
    return syncNote(this.state, { elapsedS: (Date.now() - this.receivedAt) / 1000 });
  }

  #startSyncTick() {
    this.#stopSyncTick();
    if (!this.#syncText()) return;
    this.syncTimer = setInterval(() => {
      const el = this.body.querySelector("[data-testid='traffic-synced']");
      if (!el || !this.root.isConnected) { this.#stopSyncTick(); return; }
      el.textContent = this.#syncText();
    }, SYNC_TICK_MS);
  }

  #stopSyncTick() {
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.syncTimer = null;
  }

  #render() {
    const s = this.state;
    const d = this.draft;
    const id = this.id;
    const ro = this.canWrite ? "" : " disabled";
    const hint = this.canWrite ? "" : `<p class="tr-hint" data-testid="traffic-readonly">Read-only. <a href="/login/?next=${encodeURIComponent(location.pathname + location.search + location.hash)}">Sign in as an operator</a> to change traffic.</p>`;
    const owner = s.owner === "meshui" || s.owner === "none" ? "" : `<p class="tr-alert tr-alert-warn">Owner: <strong>${esc(s.owner)}</strong>${s.owner === "unmanaged" ? " — hand-written routing; meshui changes only the fields you edit." : " — another controller manages this routing; writes are refused unless an admin forces them."}</p>`;
    const validations = s.validations.length ? `<ul class="tr-validations" data-testid="traffic-validations">${s.validations.map((v) => `<li class="sev-${esc(v.severity)}"><strong>${esc(v.severity)}</strong> ${esc(v.message)} <code>${esc(v.path)}</code></li>`).join("")}</ul>` : "";
    this.body.innerHTML = `${hint}${owner}${validations}
      <div class="tr-stale" role="alert" data-testid="traffic-stale" hidden></div>
      <form class="tr-form" aria-label="Traffic routing of ${esc(s.service)}">
      <div class="tr-col tr-col-main">
      <fieldset class="tr-section tr-s-weights" data-field="weights"><legend>Weights <span class="muted">(default route)</span></legend>
        <label class="tr-check"><input type="checkbox" name="weightsOn" data-testid="weights-on"${d.weightsOn ? " checked" : ""}${ro}> Split traffic by version</label>
        <div class="tr-weights" data-testid="weights"${d.weightsOn ? "" : " hidden"}>
          ${weightsBarHtml(d.subsets, d.weights)}
          ${d.subsets.map((n, i) => `<div class="tr-weight-row" data-field="weights.${esc(n)}">
            <span class="tr-swatch" data-style="background:${subsetColour(i)}" aria-hidden="true"></span>
            <label for="${id}-w-${esc(n)}" class="tr-subset">${esc(n)}</label>
            <input type="range" id="${id}-w-${esc(n)}" min="0" max="100" step="1" value="${d.weights[n]}" data-weight="${esc(n)}" data-testid="weight-slider-${esc(n)}" aria-label="Weight of ${esc(n)}, percent"${ro}>
            <input type="number" min="0" max="100" step="1" value="${d.weights[n]}" data-weight="${esc(n)}" data-testid="weight-input-${esc(n)}" aria-label="Weight of ${esc(n)} (number), percent"${ro}>
            <label class="tr-lock" title="Lock: other changes leave this weight alone"><input type="checkbox" data-lock="${esc(n)}" data-testid="weight-lock-${esc(n)}" aria-label="Lock the weight of ${esc(n)}"${d.locked.has(n) ? " checked" : ""}${ro}><span aria-hidden="true">lock</span></label>
          </div>`).join("")}
          <p class="tr-total muted${total(d.weights) === 100 ? "" : " tr-total-bad"}" data-testid="weights-total">${totalText(d.weights)}</p>
          <div class="tr-buttons">
            <button type="button" data-action="rebalance" data-testid="rebalance" title="Scale the unlocked weights so that they sum to 100%"${ro}>Rebalance to 100%</button>
            <button type="button" data-action="split" data-testid="split-evenly"${ro}>Split evenly</button>
            ${d.subsets.slice(1).map((n) => `<button type="button" data-action="promote" data-subset="${esc(n)}" data-testid="promote-${esc(n)}"${ro}>Promote ${esc(n)}</button>`).join("")}
            ${d.subsets.length ? `<button type="button" data-action="rollback" data-testid="rollback"${ro}>Roll back to ${esc(d.subsets[0])}</button>` : ""}
          </div>
        </div>
      </fieldset>
      <fieldset class="tr-section tr-s-routes" data-field="routes"><legend>Header routes</legend>
        ${d.kept.length ? `<p class="muted small">${d.kept.length} other match route${d.kept.length > 1 ? "s" : ""} (URI, several conditions or weights) kept as written.</p>` : ""}
        <div class="tr-routes">${d.rows.map((r, i) => this.#routeRow(r, i, ro)).join("")}</div>
        ${d.rows.length ? "" : `<p class="muted small">No header routes: every request takes the weights above.</p>`}
        <button type="button" data-action="add-route" data-testid="add-route"${ro}${d.subsets.length ? "" : " disabled"}>Add header route</button>
      </fieldset>
      </div>
      <div class="tr-col tr-col-more">
      <fieldset class="tr-section tr-s-fault" data-field="fault"><legend>Fault injection</legend>
        <div class="tr-grid" data-field="fault.abort">
          <label class="tr-check"><input type="checkbox" name="abortOn" data-testid="abort-on"${d.abortOn ? " checked" : ""}${ro}> Abort</label>
          <label>HTTP status <input type="number" name="abortStatus" min="200" max="599" value="${esc(d.abortStatus)}" data-field="fault.abort.http_status"${ro}></label>
          <label>of requests, % <input type="number" name="abortPercent" min="0" max="100" step="0.1" value="${esc(d.abortPercent)}" data-field="fault.abort.percent"${ro}></label>
        </div>
        <div class="tr-grid" data-field="fault.delay">
          <label class="tr-check"><input type="checkbox" name="delayOn" data-testid="delay-on"${d.delayOn ? " checked" : ""}${ro}> Delay</label>
          <label>Fixed delay <input type="text" name="delay" value="${esc(d.delay)}" placeholder="2s" data-field="fault.delay.fixed_delay"${ro}></label>
          <label>of requests, % <input type="number" name="delayPercent" min="0" max="100" step="0.1" value="${esc(d.delayPercent)}" data-field="fault.delay.percent"${ro}></label>
        </div>
      </fieldset>
      <fieldset class="tr-section tr-s-retries" data-field="retries"><legend>Timeout and retries</legend>
        <div class="tr-grid">
          <label>Timeout <input type="text" name="timeout" value="${esc(d.timeout)}" placeholder="none" data-field="timeout" data-testid="timeout"${ro}></label>
          <label>Retry attempts <input type="number" name="attempts" min="0" max="100" value="${esc(d.attempts)}" placeholder="none" data-field="retries.attempts"${ro}></label>
          <label>Per-try timeout <input type="text" name="perTry" value="${esc(d.perTry)}" placeholder="e.g. 2s" data-field="retries.per_try_timeout"${ro}></label>
          <label>Retry on <input type="text" name="retryOn" value="${esc(d.retryOn)}" placeholder="e.g. 5xx,reset" data-field="retries.retry_on"${ro}></label>
        </div>
      </fieldset>
      <fieldset class="tr-section tr-s-breaker" data-field="circuit_breaker"><legend>Circuit breaker</legend>
        <div class="tr-grid">${BREAKER_FIELDS.map(([key, label, type]) => `<label>${esc(label)} <input type="${type === "int" ? "number" : "text"}" name="cb-${key}" data-breaker="${key}" value="${esc(d.breaker[key])}" placeholder="${type === "int" ? "none" : "e.g. 30s"}" data-field="circuit_breaker.${key}"${ro}></label>`).join("")}</div>
      </fieldset>
      </div>
      <div class="tr-actions">
        <button type="button" class="tr-primary" data-action="review" data-testid="traffic-review"${ro}>Review changes</button>
        <button type="button" class="tr-primary" data-action="apply" data-testid="traffic-apply" disabled>Apply</button>
        <button type="button" data-action="discard" data-testid="traffic-discard"${ro}>Discard</button>
      </div>
      <p class="tr-status" role="status" data-testid="traffic-status"></p>
      <div class="tr-preview" data-testid="traffic-preview" hidden></div>
      </form>
      <details class="tr-current"><summary>Current resources (${s.resources.length})</summary>${this.#resources(s.resources)}</details>
      ${this.#metaLine()}`;
    applyDataStyles(this.body);
  }

  /** Version, owner and (for cached reads) the sync age; links to this service's changes and the Istio config. */
  #metaLine() {
    const s = this.state;
    const synced = this.#syncText();
    const owner = { none: "", meshui: "managed by meshui" }[s.owner] ?? (s.owner ? `owner ${s.owner}` : "");
    const syncedAt = s.synced_at ? ` title="Read from meshui's cache of the cluster; last synced ${esc(s.synced_at)}"` : "";
    return `<p class="muted small tr-meta" data-testid="traffic-meta">Version <code>${esc(s.version)}</code>`
      + (owner ? ` · <span data-testid="traffic-owner">${esc(owner)}</span>` : "")
      + (synced ? ` · <span class="tr-synced" data-testid="traffic-synced"${syncedAt}>${esc(synced)}</span>` : "")
      + `<br><a href="${esc(changesUrl(s.namespace, s.service))}" data-testid="traffic-changes-link">Changes of ${esc(s.service)}</a>`
      + ` · <a href="/istio-config?namespace=${encodeURIComponent(s.namespace)}">Istio config</a></p>`;
  }

  #routeRow(r, i, ro) {
    const id = `${this.id}-r${i}`;
    const field = `routes[${this.draft.kept.length + i}]`;
    return `<div class="tr-route" data-field="${field}" data-row="${i}" data-testid="route-row">
      <label for="${id}-h">Header</label><input id="${id}-h" type="text" data-route="header" value="${esc(r.header)}" placeholder="header, e.g. x-group" aria-label="Header name of route ${i + 1}" spellcheck="false"${ro}>
      <select data-route="kind" aria-label="Match kind of route ${i + 1}"${ro}>${MATCH_KINDS.map((k) => `<option${k === r.kind ? " selected" : ""}>${k}</option>`).join("")}</select>
      <input type="text" data-route="value" value="${esc(r.value)}" placeholder="value, e.g. test" aria-label="Header value of route ${i + 1}" spellcheck="false"${ro}>
      <span aria-hidden="true">→</span>
      <select data-route="subset" aria-label="Subset of route ${i + 1}"${ro}>${this.draft.subsets.map((n) => `<option${n === r.subset ? " selected" : ""}>${esc(n)}</option>`).join("")}</select>
      <button type="button" class="tr-remove" data-action="remove-route" aria-label="Remove route ${i + 1}"${ro}>×</button>
    </div>`;
  }

  #resources(resources) {
    if (!resources.length) return `<p class="muted small">None: meshui has written no routing for this service.</p>`;
    return resources.map((r) => `<h4>${esc(r.kind)} <code>${esc(r.namespace)}/${esc(r.name)}</code></h4><pre class="tr-yaml">${esc(r.yaml)}</pre>`).join("");
  }

  // ---- form events ---------------------------------------------------------------------

  #onInput(event) {
    const t = event.target;
    const d = this.draft;
    if (!d || !t.closest(".tr-form")) return;
    if (t.dataset.weight) {
      if (event.type === "input" && t.type === "number" && t.value === "") return;
      if (t.type === "number") {
        // A typed weight is kept as typed: the others move only when asked (Rebalance).
        d.weights = { ...d.weights, [t.dataset.weight]: Math.min(100, Math.max(0, Math.round(Number(t.value) || 0))) };
      } else {
        // Dragging a slider moves the unlocked others with it.
        d.weights = setWeight(d.weights, d.subsets, t.dataset.weight, t.value, d.locked);
      }
      this.#syncWeights(t);
    } else if (t.dataset.lock) {
      if (t.checked) d.locked.add(t.dataset.lock); else d.locked.delete(t.dataset.lock);
    } else if (t.dataset.route) {
      d.rows[Number(t.closest("[data-row]").dataset.row)][t.dataset.route] = t.value;
    } else if (t.dataset.breaker) {
      d.breaker[t.dataset.breaker] = t.value;
    } else if (t.name) {
      d[t.name] = t.type === "checkbox" ? t.checked : t.value;
      if (t.name === "weightsOn") this.body.querySelector(".tr-weights").hidden = !t.checked;
    }
    this.#invalidate();
  }

  #onClick(event) {
    const button = event.target.closest("button[data-action]");
    if (!button || button.disabled) return;
    const d = this.draft;
    const action = button.dataset.action;
    if (action === "split") d.weights = splitEvenly(d.weights, d.subsets, d.locked);
    else if (action === "rebalance") d.weights = rebalance(d.weights, d.subsets, d.locked);
    else if (action === "promote") d.weights = promote(d.subsets, button.dataset.subset);
    else if (action === "rollback") d.weights = rollBack(d.subsets);
    // Empty, with placeholders: an unedited route must not send real traffic anywhere (review refuses it).
    else if (action === "add-route") d.rows.push({ header: "", kind: "exact", value: "", subset: d.subsets[d.subsets.length - 1] });
    else if (action === "remove-route") d.rows.splice(Number(button.closest("[data-row]").dataset.row), 1);
    else if (action === "review") { this.review(); return; }
    else if (action === "apply") { this.apply(); return; }
    else if (action === "discard") { this.#setState(this.state); return; }
    else if (action === "reload") { this.#setState(JSON.parse(button.dataset.state ?? "null") ?? this.state); return; }
    if (["split", "rebalance", "promote", "rollback"].includes(action)) {
      d.weightsOn = true;
      this.body.querySelector('[name="weightsOn"]').checked = true;
      this.body.querySelector(".tr-weights").hidden = false;
      this.#syncWeights(null);
    } else {
      this.#rerenderKeepingScroll();
    }
    this.#invalidate();
  }

  #rerenderKeepingScroll() {
    // The graph panel scrolls by itself; on a page the document does.
    const scroller = this.root.closest(".graph-panel") ?? document.scrollingElement;
    const top = scroller?.scrollTop;
    this.#render();
    if (scroller) scroller.scrollTop = top;
  }

  /** Bring the sliders, boxes and bar to the draft weights (leaving the control being dragged alone). */
  #syncWeights(active) {
    const d = this.draft;
    for (const input of this.body.querySelectorAll("[data-weight]")) {
      if (input !== active) input.value = String(d.weights[input.dataset.weight]);
    }
    for (const bar of this.body.querySelectorAll(".tr-form [data-bar]")) {
      const w = d.weights[bar.dataset.bar];
      bar.style.flexBasis = `${w}%`;
      bar.textContent = w >= 12 ? bar.dataset.bar : "";
    }
    const totalEl = this.body.querySelector(".tr-total");
    totalEl.textContent = totalText(d.weights);
    totalEl.classList.toggle("tr-total-bad", total(d.weights) !== 100);
  }

  /** Any edit voids the last review: Apply needs a fresh one. */
  #invalidate() {
    this.reviewed = null;
    this.body.querySelector('[data-action="apply"]').disabled = true;
    const preview = this.body.querySelector(".tr-preview");
    preview.hidden = true;
    preview.innerHTML = "";
    this.#clearErrors();
    this.#status("");
  }

  #status(text, kind = "", link = null) {
    const el = this.body.querySelector(".tr-status");
    el.textContent = text;
    el.dataset.kind = kind;
    if (link) {
      const a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      a.dataset.testid = "traffic-status-link";
      el.append(" ", a);
    }
  }

  #clearErrors() {
    for (const el of this.body.querySelectorAll(".tr-error")) el.remove();
    for (const el of this.body.querySelectorAll("[aria-invalid]")) { el.removeAttribute("aria-invalid"); el.removeAttribute("aria-describedby"); }
  }

  /** Put the API's error next to the control its `field` names (the closest enclosing one). */
  #showFieldError(error) {
    this.#clearErrors();
    const field = error.field ?? "";
    let best = null;
    for (const el of this.body.querySelectorAll(".tr-form [data-field]")) {
      const name = el.dataset.field;
      const matches = field === name || field.startsWith(`${name}.`) || field.startsWith(`${name}[`);
      if (matches && (!best || name.length > best.dataset.field.length)) best = el;
    }
    const message = document.createElement("p");
    message.className = "tr-error";
    message.id = `${this.id}-error`;
    message.dataset.testid = "traffic-field-error";
    message.dataset.field = field;
    message.textContent = field ? `${field}: ${error.message}` : error.message;
    if (!best) { this.body.querySelector(".tr-actions").before(message); return; }
    const input = best.matches("input, select") ? best : best.querySelector("input, select");
    if (input) { input.setAttribute("aria-invalid", "true"); input.setAttribute("aria-describedby", message.id); }
    (best.matches("input, select") ? best.closest("label, .tr-route, .tr-weight-row") ?? best : best).after(message);
    message.scrollIntoView({ block: "nearest" });
  }

  // ---- review and apply ------------------------------------------------------------------

  async review() {
    if (this.draft.weightsOn && total(this.draft.weights) !== 100) {
      this.#status(`${totalText(this.draft.weights)}. Change a weight or press "Rebalance to 100%".`, "error");
      return;
    }
    const patch = patchFromDraft(this.state, this.draft);
    if (!Object.keys(patch).length) { this.#status("Nothing to change: the form shows the current routing."); return; }
    this.#status("Asking for a dry run…");
    const t = this.target;
    const result = await patchTraffic(t.namespace, t.service, patch, { version: this.state.version, dryRun: true });
    if (this.target !== t) return;
    if (!result.ok) { this.#failed(result); return; }
    this.reviewed = patch;
    const preview = this.body.querySelector(".tr-preview");
    preview.hidden = false;
    preview.innerHTML = `<h4>Diff</h4>${diffHtml(result.body.diff)}
      <details><summary>Resulting YAML (${result.body.resources.length})</summary>${this.#resources(result.body.resources)}</details>
      ${result.body.validations.length ? `<ul class="tr-validations">${result.body.validations.map((v) => `<li class="sev-${esc(v.severity)}"><strong>${esc(v.severity)}</strong> ${esc(v.message)}</li>`).join("")}</ul>` : ""}`;
    this.body.querySelector('[data-action="apply"]').disabled = false;
    this.#status(`Review: ${routingSummary(this.state)} → ${routingSummary(result.body)}. Apply writes it.`);
  }

  async apply() {
    if (!this.reviewed) return;
    const t = this.target;
    this.body.querySelector('[data-action="apply"]').disabled = true;
    this.#status("Applying…");
    const result = await patchTraffic(t.namespace, t.service, this.reviewed, { version: this.state.version });
    if (this.target !== t) return;
    if (!result.ok) { this.#failed(result); return; }
    const changeId = result.body.change_id;
    this.#setState(result.body);
    const link = changeId ? { href: `${changesUrl(t.namespace, t.service)}#change-${changeId}`, text: "See it in Changes" } : null;
    this.#status(`Applied${changeId ? ` (change #${changeId})` : ""}: ${routingSummary(result.body)}.`, "ok", link);
    window.dispatchEvent(new CustomEvent("meshui:traffic-changed", { detail: { namespace: t.namespace, service: t.service, state: result.body } }));
  }

  async #failed(result) {
    const error = result.body.error;
    if (result.status === 400) { this.#status("The API refused the change: see the message by the field.", "error"); this.#showFieldError(error); return; }
    if (result.status === 412) { await this.#stale(); return; }
    const lead = { 401: "Sign in as an operator to change traffic.", 403: "Not allowed.", 409: "Refused." }[result.status] ?? "The change failed.";
    this.#status(`${lead} ${error.message}`, "error");
  }

  async #stale() {
    const t = this.target;
    this.#status("");
    const fresh = await getTraffic(t.namespace, t.service);
    if (this.target !== t) return;
    const box = this.body.querySelector(".tr-stale");
    box.hidden = false;
    if (!fresh.ok) { box.innerHTML = `<strong>Someone changed this — reload.</strong> <span>${esc(fresh.body.error.message)}</span>`; return; }
    box.innerHTML = `<strong>Someone changed this — reload.</strong>
      <p>The routing is now: <span data-testid="traffic-stale-state">${esc(routingSummary(fresh.body))}</span> (version <code>${esc(fresh.body.version)}</code>). Your edits were not written.</p>
      <button type="button" data-action="reload" data-testid="traffic-reload">Reload the current routing</button>`;
    box.querySelector("button").dataset.state = JSON.stringify(fresh.body);
    this.body.querySelector('[data-action="apply"]').disabled = true;
    box.scrollIntoView({ block: "nearest" });
  }
}

/** The Changes page filtered to one service. */
export function changesUrl(namespace, service) {
  return `/changes?namespace=${encodeURIComponent(namespace)}&service=${encodeURIComponent(service)}`;
}

/** A unified diff as HTML lines (added, removed, hunk headers marked by class and sign). */
export function diffHtml(diff) {
  if (!diff) return `<p class="muted small">No difference.</p>`;
  const lines = diff.replace(/\n$/, "").split("\n").map((line) => {
    const kind = line.startsWith("+++ ") || line.startsWith("--- ") ? "file" : line.startsWith("@@") ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "ctx";
    return `<span class="diff-${kind}">${esc(line) || " "}</span>`;
  });
  return `<pre class="tr-diff" data-testid="traffic-diff">${lines.join("\n")}</pre>`;
}

/**
 * Show the traffic editor of a service in `host`; one editor per host, created at the first call.
 *
 * - The graph's side panel (default): `subject` is the selected graph node; the editor shows the
 *   routing of its service (`serviceOfNode`) in a collapsible section before the panel's Traces
 *   section, or hides for nodes without a service.
 * - A page (`{inline: true, onState}`): `subject` is `{namespace, service}`; the form is drawn
 *   in `host` and read at once; `onState(state | null, error)` hears every state it shows.
 *
 * Options count at the first call. Returns the editor (`refresh()` reads again unless the form
 * holds edits).
 */
export function mountTrafficEditor(host, subject, { inline = false, onState = null } = {}) {
  let editor = editors.get(host);
  if (!editor) {
    editor = new TrafficEditor(host, { inline, onState });
    editors.set(host, editor);
  }
  editor.show(inline ? subject ?? null : serviceOfNode(subject));
  return editor;
}
