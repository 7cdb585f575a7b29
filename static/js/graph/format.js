// Number formatting and edge labels of the graph page. Pure: no DOM, runs under Node.

/** `4.2/s`, `12k/s`; "–" for null. Rates below 0.01/s show as "<0.01/s" (never a false 0). */
export function formatRate(value) {
  if (value === null || value === undefined) return "–";
  if (value === 0) return "0/s";
  if (value < 0.01) return "<0.01/s";
  if (value >= 1000) return `${trim(value / 1000)}k/s`;
  return `${trim(value)}/s`;
}

/** A share 0…1 as a percentage: `0.5%`, `12%`, `100%`; "–" for null. */
export function formatPercent(share) {
  if (share === null || share === undefined) return "–";
  const pct = share * 100;
  if (pct === 0) return "0%";
  if (pct < 0.1) return "<0.1%";
  return `${pct >= 10 ? Math.round(pct) : trim(pct)}%`;
}

/** Milliseconds: `42ms`, `1.2s`; "–" for null. */
export function formatMs(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms >= 1000) return `${trim(ms / 1000)}s`;
  return `${ms >= 10 ? Math.round(ms) : trim(ms)}ms`;
}

/** Bytes per second: `812B/s`, `4.1kB/s`, `3.2MB/s`; "–" for null. */
export function formatBytesRate(value) {
  if (value === null || value === undefined) return "–";
  const units = ["B/s", "kB/s", "MB/s", "GB/s"];
  let v = value;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
  return `${i === 0 ? Math.round(v) : trim(v)}${units[i]}`;
}

function trim(value) {
  return value >= 100 ? String(Math.round(value)) : value.toFixed(value >= 10 ? 1 : 2).replace(/\.?0+$/, "");
}

export const EDGE_LABEL_MODES = {
  none: "No labels",
  rate: "Request rate",
  share: "% of source traffic",
  error: "Error %",
  p50: "p50 latency",
  p95: "p95 latency",
  p99: "p99 latency",
  tcp: "TCP bytes/s",
};

/**
 * The label of `edge` in `mode` (a key of EDGE_LABEL_MODES). `sourceOutRate` is the source
 * node's total outbound request rate (for "share"). TCP edges show bytes in every rate mode.
 */
export function edgeLabel(edge, mode, sourceOutRate = 0) {
  const tcpRate = edge.tcp_sent_bytes_per_s === null && edge.tcp_received_bytes_per_s === null
    ? null : (edge.tcp_sent_bytes_per_s || 0) + (edge.tcp_received_bytes_per_s || 0);
  switch (mode) {
    case "rate": return edge.protocol === "tcp" ? formatBytesRate(tcpRate) : formatRate(edge.request_rate);
    case "share":
      if (edge.protocol === "tcp" || !sourceOutRate) return "";
      return formatPercent((edge.request_rate || 0) / sourceOutRate);
    case "error": return edge.protocol === "tcp" || !edge.error_rate ? "" : formatPercent(edge.error_rate);
    case "p50": case "p95": case "p99": return edge.latency_ms?.[mode] == null ? "" : formatMs(edge.latency_ms[mode]);
    case "tcp": return tcpRate === null ? "" : formatBytesRate(tcpRate);
    default: return "";
  }
}

/** "3 s ago", "4 min ago", "2 h ago" for an age in seconds (never negative). */
export function formatAge(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

const UNIT_S = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Seconds of a Prometheus duration such as "5m" or "1h30m" (300 when it says none). */
export function windowSeconds(text) {
  let total = 0;
  for (const [, n, unit] of String(text).matchAll(/(\d+)(ms|s|m|h|d|w)/g)) total += Number(n) * UNIT_S[unit];
  return total || 300;
}
