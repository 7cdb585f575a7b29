// The trace detail page (templates/traces/trace.html): reads GET /api/v1/traces/{id} and draws
// the facts, a mini graph of the services, and the span waterfall with tags on click.
// `window.meshuiTrace.ready` resolves once the page has drawn (or shown its error).

import { applyDataStyles } from "../inline-style.js";
import { describeError, esc, formatDuration, getJson, graphLink, serviceColours, spanTree } from "./common.js";

const page = document.getElementById("trace-page");
let resolveReady;
window.meshuiTrace = { ready: new Promise((resolve) => { resolveReady = resolve; }) };

function showError(error) {
  const box = document.getElementById("trace-error");
  const { title, message, hint, code } = describeError(error);
  box.querySelector(".trace-error-title").textContent = title;
  box.querySelector(".trace-error-message").textContent = message;
  box.querySelector(".trace-error-hint").textContent = hint;
  box.dataset.code = code;
  box.hidden = false;
  page.dataset.state = "error";
}

function facts(trace, services) {
  const start = Math.min(...trace.spans.map((s) => s.start_time_us));
  const end = Math.max(...trace.spans.map((s) => s.start_time_us + s.duration_us));
  const errors = trace.spans.filter((s) => s.has_error).length;
  const root = spanTree(trace.spans)[0]?.span;
  const pairs = [
    ["Root", root ? `${esc(root.service)} <code>${esc(root.operation)}</code>` : "–"],
    ["Started", esc(new Date(start / 1000).toISOString().replace("T", " ").replace("Z", " UTC"))],
    ["Duration", esc(formatDuration((end - start) / 1000))],
    ["Spans", `${trace.spans.length}`],
    ["Services", `${services.length}`],
    ["Errors", errors ? `<span class="error-text" data-testid="trace-error-count">✖ ${errors} span${errors > 1 ? "s" : ""}</span>` : "none"],
  ];
  return pairs.map(([k, v]) => `<div class="trace-fact"><dt>${esc(k)}</dt><dd>${v}</dd></div>`).join("");
}

/** Services laid out in columns by their distance from the root service, edges as arrows. */
function serviceGraph(trace, services, colours) {
  const rootService = spanTree(trace.spans)[0]?.span.service ?? services[0];
  const layer = new Map([[rootService, 0]]);
  const queue = [rootService];
  while (queue.length) {
    const current = queue.shift();
    for (const e of trace.edges) {
      if (e.source === current && !layer.has(e.target)) { layer.set(e.target, layer.get(current) + 1); queue.push(e.target); }
    }
  }
  for (const s of services) if (!layer.has(s)) layer.set(s, 0);
  const columns = [];
  for (const s of services) (columns[layer.get(s)] ??= []).push(s);
  const boxW = 170; const boxH = 30; const gapX = 60; const gapY = 14;
  const pos = new Map();
  columns.forEach((col, i) => col.forEach((s, j) => pos.set(s, { x: 10 + i * (boxW + gapX), y: 10 + j * (boxH + gapY) })));
  const width = 20 + columns.length * (boxW + gapX) - gapX;
  const height = 20 + Math.max(...columns.map((c) => c.length)) * (boxH + gapY) - gapY;
  const errorServices = new Set(trace.spans.filter((s) => s.has_error).map((s) => s.service));
  const arrows = trace.edges.map((e) => {
    const a = pos.get(e.source); const b = pos.get(e.target);
    if (!a || !b) return "";
    const x1 = a.x + boxW; const y1 = a.y + boxH / 2; const x2 = b.x; const y2 = b.y + boxH / 2;
    const back = x2 <= x1;
    const d = back ? `M${a.x + boxW / 2},${a.y + boxH} C${a.x + boxW / 2},${a.y + boxH + 30} ${b.x + boxW / 2},${b.y + boxH + 30} ${b.x + boxW / 2},${b.y + boxH}` : `M${x1},${y1} C${x1 + 30},${y1} ${x2 - 30},${y2} ${x2 - 4},${y2}`;
    // The count sits near the callee's end, so fan-out arrows keep their labels apart.
    const lx = back ? (a.x + b.x) / 2 + boxW / 2 : x2 - 18;
    const ly = back ? Math.max(a.y, b.y) + boxH + 24 : y2 - 6;
    return `<g class="svc-edge" data-testid="trace-edge"><path d="${d}" marker-end="url(#arrow)"/><text x="${lx}" y="${ly}" text-anchor="middle">${e.calls}×</text></g>`;
  }).join("");
  const boxes = services.map((s) => {
    const p = pos.get(s);
    const bad = errorServices.has(s);
    return `<g class="svc-node${bad ? " svc-error" : ""}" data-testid="trace-service" data-service="${esc(s)}">
      <rect x="${p.x}" y="${p.y}" width="${boxW}" height="${boxH}" rx="5" data-style="--svc:${colours.get(s)}"/>
      <rect x="${p.x}" y="${p.y}" width="6" height="${boxH}" rx="2" fill="${colours.get(s)}"/>
      <text x="${p.x + 12}" y="${p.y + 19}">${bad ? "✖ " : ""}${esc(s.length > 24 ? `${s.slice(0, 23)}…` : s)}<title>${esc(s)}</title></text></g>`;
  }).join("");
  return `<svg class="svc-graph" viewBox="0 0 ${width} ${height + 30}" width="${width}" height="${height + 30}" role="img" aria-label="Services in this trace">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z"/></marker></defs>
    ${arrows}${boxes}</svg>`;
}

function tagsTable(span) {
  const rows = Object.entries(span.tags ?? {}).sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `<tr><th scope="row"><code>${esc(k)}</code></th><td>${esc(typeof v === "object" ? JSON.stringify(v) : v)}</td></tr>`).join("");
  return `<table class="span-tags" data-testid="span-tags"><caption>${esc(span.service)} · <code>${esc(span.operation)}</code> · span <code>${esc(span.span_id)}</code></caption><tbody>${rows || `<tr><td class="muted">No tags</td></tr>`}</tbody></table>`;
}

function waterfall(trace, colours) {
  const start = Math.min(...trace.spans.map((s) => s.start_time_us));
  const end = Math.max(...trace.spans.map((s) => s.start_time_us + s.duration_us));
  const total = Math.max(1, end - start);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<span class="wf-tick" data-style="left:${f * 100}%">${f ? esc(formatDuration((f * total) / 1000)) : "0"}</span>`).join("");
  const rows = spanTree(trace.spans).map(({ span, depth }, i) => {
    const left = ((span.start_time_us - start) / total) * 100;
    const width = Math.max(0.3, (span.duration_us / total) * 100);
    // A label that does not fit after its bar goes inside the bar's end.
    const inside = left + width > 85;
    return `<div class="wf-row${span.has_error ? " wf-error" : ""}" role="treeitem" aria-level="${depth + 1}" data-testid="span-row" data-span-id="${esc(span.span_id)}" data-error="${span.has_error}">
      <button type="button" class="wf-label" data-style="padding-left:${0.4 + depth * 0.9}rem" aria-expanded="false" data-index="${i}">
        <span class="wf-swatch" data-style="background:${colours.get(span.service)}"></span>
        ${span.has_error ? `<span class="wf-error-mark" title="error" aria-label="error">✖</span>` : ""}
        <span class="wf-service">${esc(span.service)}</span> <span class="wf-op">${esc(span.operation)}</span>
      </button>
      <div class="wf-track"><div class="wf-bar" data-style="left:${left}%;width:${width}%;background:${colours.get(span.service)}"></div>
        <span class="wf-duration${inside ? " wf-duration-inside" : ""}" data-style="${inside ? `right:${Math.max(0, 100 - left - width) + 0.3}%` : `left:${left + width + 0.5}%`}">${esc(formatDuration(span.duration_us / 1000))}</span></div>
    </div>`;
  }).join("");
  return { html: `<div class="wf-head"><div class="wf-label-head">Service · operation</div><div class="wf-ticks">${ticks}</div></div>${rows}`, order: spanTree(trace.spans) };
}

async function main() {
  const result = await getJson(page.dataset.apiUrl);
  document.getElementById("trace-loading").hidden = true;
  if (!result.ok) { showError(result.error); return; }
  const trace = result.body;
  if (!trace.spans.length) { showError({ code: "trace_not_found", message: "The trace has no spans." }); return; }
  const services = [...new Set(spanTree(trace.spans).map(({ span }) => span.service))];
  const colours = serviceColours(services);
  document.getElementById("trace-facts").innerHTML = facts(trace, services);
  const link = document.getElementById("show-on-graph");
  const window = new URLSearchParams(location.search).get("window");
  link.href = graphLink(page.dataset.graphUrl, services, window);
  link.hidden = false;
  const graph = document.getElementById("trace-service-graph");
  graph.innerHTML = serviceGraph(trace, services, colours);
  applyDataStyles(graph);
  const box = document.getElementById("waterfall");
  const { html, order } = waterfall(trace, colours);
  box.innerHTML = html;
  applyDataStyles(box);
  box.addEventListener("click", (event) => {
    const button = event.target.closest(".wf-label");
    if (!button) return;
    const row = button.closest(".wf-row");
    const open = row.nextElementSibling?.classList.contains("wf-tags-row");
    if (open) row.nextElementSibling.remove();
    else row.insertAdjacentHTML("afterend", `<div class="wf-tags-row">${tagsTable(order[Number(button.dataset.index)].span)}</div>`);
    button.setAttribute("aria-expanded", String(!open));
  });
  document.getElementById("trace-body").hidden = false;
  page.dataset.state = "trace";
}

main().finally(() => resolveReady(page.dataset.state));
