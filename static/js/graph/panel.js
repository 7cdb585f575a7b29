// The side panel: details of the selected node or edge, with sparklines (uPlot) of its rate,
// error share and p95 over the time the page has been open (GraphModel.history).

import { formatBytesRate, formatMs, formatPercent, formatRate } from "./format.js";

const uPlot = globalThis.uPlot;

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function rows(pairs) {
  return `<dl class="panel-facts">${pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>`;
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

export class SidePanel {
  constructor({ root, model, nodeName, onClose }) {
    this.root = root;
    this.model = model;
    this.nodeName = nodeName;
    this.kind = root.querySelector("#panel-kind");
    this.title = root.querySelector("#panel-title");
    this.body = root.querySelector("#panel-body");
    this.sparks = root.querySelector("#panel-sparks");
    this.selection = null;
    this.plots = [];
    root.querySelector("#panel-close").addEventListener("click", () => onClose());
  }

  /** Show `{group, id}` (null hides the panel). */
  show(selection) {
    this.selection = selection;
    this.#destroyPlots();
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
    this.#renderSparks(`${sel.group}:${sel.id}`);
  }

  #renderNode(n) {
    const t = this.model.nodeTraffic(n.id);
    this.kind.textContent = `${n.kind}${n.is_gateway ? " · gateway" : ""}`;
    this.title.textContent = n.name;
    this.body.innerHTML = healthBadge(n.health) + (n.health_reason ? ` <span class="muted" data-testid="panel-health-reason">${esc(n.health_reason)}</span>` : "") + rows([
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
    this.body.innerHTML = healthBadge(e.health) + (e.health_reason ? ` <span class="muted">${esc(e.health_reason)}</span>` : "") + rows([
      ["Request rate", e.protocol === "tcp" ? null : formatRate(e.request_rate)],
      ["Errors", e.protocol === "tcp" ? null : formatPercent(e.error_rate)],
      ["4xx", e.protocol === "tcp" ? null : formatPercent(e.client_error_rate)],
      ["p50 / p95 / p99", lat.p50 == null ? null : `${formatMs(lat.p50)} / ${formatMs(lat.p95)} / ${formatMs(lat.p99)}`],
      ["Mean latency", lat.avg == null ? null : formatMs(lat.avg)],
      ["TCP sent / received", tcp ? `${formatBytesRate(e.tcp_sent_bytes_per_s)} / ${formatBytesRate(e.tcp_received_bytes_per_s)}` : null],
      ["mTLS share", e.mtls_ratio == null ? null : formatPercent(e.mtls_ratio)],
    ]) + breakdown("Response codes", e.responses, e.request_rate, "panel-responses")
      + breakdown("Envoy response flags", e.flags, e.request_rate, "panel-flags");
  }

  #renderSparks(key) {
    const history = this.model.historyOf(key);
    const t = history.map((p) => p.t);
    const series = [
      { name: "rate", label: "Rate (req/s)", values: history.map((p) => p.rate), color: "#0072B2", fmt: formatRate, span: 1 },
      { name: "error", label: "Errors", values: history.map((p) => p.error), color: "#D55E00", fmt: formatPercent, span: 0.01 },
      { name: "p95", label: "p95", values: history.map((p) => p.p95), color: "#CC79A7", fmt: formatMs, span: 1 },
    ];
    const latest = (s) => s.fmt(s.values.length ? s.values[s.values.length - 1] : null);
    if (this.plots.length === series.length) {
      series.forEach((s, i) => {
        this.plots[i].setData([t, s.values]);
        this.sparks.querySelectorAll(".spark-caption")[i].textContent = `${s.label} · now ${latest(s)}`;
      });
      this.sparks.querySelector(".spark-count").textContent = `(${history.length} points)`;
      return;
    }
    this.#destroyPlots();
    this.sparks.innerHTML = `<h3>Since this page opened <span class="muted small spark-count">(${history.length} points)</span></h3>`;
    if (history.length < 2) {
      // A line needs two points: until the next update, say what the sparklines will show.
      this.sparks.insertAdjacentHTML("beforeend", `<p class="muted small" data-testid="spark-pending">Rate, errors and p95 are drawn here from the next update on.</p>`);
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
        series: [{}, { label: s.label, stroke: s.color, width: 1.5, fill: `${s.color}22`, points: { show: history.length < 3 } }],
      }, [t, s.values], box));
      const caption = document.createElement("p");
      caption.className = "spark-caption";
      caption.textContent = `${s.label} · now ${latest(s)}`;
      box.prepend(caption);
    }
  }

  #destroyPlots() {
    for (const plot of this.plots) plot.destroy();
    this.plots = [];
    this.sparks.innerHTML = "";
  }
}
