// A scatter of trace duration over start time, as SVG. Errors are drawn as crosses (✖), other
// traces as circles, so they differ by shape and not only by colour. Each mark is a link.

import { esc, formatDuration } from "./common.js";

const W = 340;
const H = 150;
const PAD = { left: 46, right: 8, top: 8, bottom: 22 };

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function clock(us) {
  return new Date(us / 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/**
 * SVG markup of `traces` (API summaries) from `startUs` to `endUs`; `href(trace)` gives each
 * mark's link. Durations share one linear axis from 0.
 */
export function scatterSvg(traces, { startUs, endUs, href }) {
  const maxMs = niceMax(Math.max(0, ...traces.map((t) => t.duration_ms)));
  const x = (us) => PAD.left + ((us - startUs) / Math.max(1, endUs - startUs)) * (W - PAD.left - PAD.right);
  const y = (ms) => H - PAD.bottom - (ms / maxMs) * (H - PAD.top - PAD.bottom);
  const marks = traces.map((t) => {
    const cx = x(t.start_time_us).toFixed(1);
    const cy = y(t.duration_ms).toFixed(1);
    const title = `${t.root?.service ?? ""} ${t.root?.operation ?? ""} · ${formatDuration(t.duration_ms)} · ${t.span_count} spans${t.has_error ? " · error" : ""}`;
    const shape = t.has_error
      ? `<path class="mark-error" d="M${cx - 4},${cy - 4}L${+cx + 4},${+cy + 4}M${cx - 4},${+cy + 4}L${+cx + 4},${cy - 4}"/>`
      : `<circle class="mark-ok" cx="${cx}" cy="${cy}" r="3.5"/>`;
    return `<a href="${esc(href(t))}" class="scatter-mark" data-testid="trace-mark" data-trace-id="${esc(t.trace_id)}" data-error="${t.has_error}"><title>${esc(title)}</title>${shape}</a>`;
  }).join("");
  const axisY = H - PAD.bottom;
  return `<svg class="trace-scatter" viewBox="0 0 ${W} ${H}" role="img" aria-label="Trace durations over time">
    <line class="axis" x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${axisY}"/>
    <line class="axis" x1="${PAD.left}" y1="${axisY}" x2="${W - PAD.right}" y2="${axisY}"/>
    <line class="grid" x1="${PAD.left}" y1="${y(maxMs / 2)}" x2="${W - PAD.right}" y2="${y(maxMs / 2)}"/>
    <text class="tick" x="${PAD.left - 4}" y="${PAD.top + 8}" text-anchor="end">${esc(formatDuration(maxMs))}</text>
    <text class="tick" x="${PAD.left - 4}" y="${y(maxMs / 2) + 3}" text-anchor="end">${esc(formatDuration(maxMs / 2))}</text>
    <text class="tick" x="${PAD.left - 4}" y="${axisY}" text-anchor="end">0</text>
    <text class="tick" x="${PAD.left}" y="${H - 6}">${esc(clock(startUs))}</text>
    <text class="tick" x="${W - PAD.right}" y="${H - 6}" text-anchor="end">${esc(clock(endUs))}</text>
    ${marks}
  </svg>`;
}
