// The graph the page shows, as plain data: snapshots and deltas (docs/decisions/0005) go in,
// change summaries come out so the canvas knows whether anything structural happened.
// Pure: no DOM, runs under Node.

/** Fields of a node or an edge that never change without the element being replaced. */
const IDENTITY = new Set(["id", "source", "target"]);
/** Points kept per element for the sparklines (15 s refresh → one hour). */
export const HISTORY_POINTS = 240;
/** Above this many elements only the elements a user opened keep a history (memory). */
export const HISTORY_ALL_LIMIT = 1500;

function emptyTraffic() {
  return { inRate: 0, outRate: 0, inErrors: 0, inClientErrors: 0, p50: null, p95: null, p99: null, inTcp: 0, outTcp: 0, inEdges: 0, outEdges: 0, mtlsWeighted: 0 };
}

function finishTraffic(t) {
  t.errorShare = t.inRate > 0 ? t.inErrors / t.inRate : 0;
  t.clientErrorShare = t.inRate > 0 ? t.inClientErrors / t.inRate : 0;
  t.mtlsShare = t.inRate > 0 ? t.mtlsWeighted / t.inRate : null;
  return t;
}

function emptyChanges() {
  return { nodes: { added: [], removed: [], changed: [] }, edges: { added: [], removed: [], changed: [] } };
}

/** True when `changes` adds or removes an element (a metric-only change is not structural). */
export function isStructural(changes) {
  return ["nodes", "edges"].some((g) => changes[g].added.length > 0 || changes[g].removed.length > 0);
}

function shallowChanged(before, after) {
  const diff = { id: after.id };
  let any = false;
  for (const [key, value] of Object.entries(after)) {
    if (IDENTITY.has(key)) continue;
    if (JSON.stringify(before[key]) !== JSON.stringify(value)) { diff[key] = value; any = true; }
  }
  return any ? diff : null;
}

export class GraphModel {
  constructor() {
    this.nodes = new Map();
    this.edges = new Map();
    this.seq = null;
    this.viewKey = null;
    this.queryTime = null;
    this.windowS = null;
    this.graphType = null;
    this.warnings = [];
    /** How the server read this view: "recorded", "partly_recorded", "raw", "demo" or null. */
    this.readMode = null;
    this.history = new Map();
    this.watched = new Set();
  }

  #traffic = null;

  /**
   * Replace the state with `graph` (a GET /api/v1/graph body). `seq`/`viewKey` come from a
   * websocket snapshot (null when polled). Returns the change summary against the old state,
   * so a polled refresh that only moved metrics is not structural either.
   */
  applySnapshot(graph, { seq = null, viewKey = null } = {}) {
    const changes = emptyChanges();
    for (const group of ["nodes", "edges"]) {
      const current = this[group];
      const next = new Map(graph[group].map((item) => [item.id, item]));
      for (const id of current.keys()) if (!next.has(id)) changes[group].removed.push(id);
      for (const [id, item] of next) {
        const before = current.get(id);
        if (!before) changes[group].added.push(item);
        else {
          const diff = shallowChanged(before, item);
          if (diff) changes[group].changed.push(diff);
        }
      }
      this[group] = next;
    }
    this.seq = seq;
    this.viewKey = viewKey;
    this.queryTime = graph.query_time ?? null;
    this.windowS = graph.window_s ?? null;
    this.graphType = graph.graph_type ?? null;
    this.warnings = graph.warnings ?? [];
    this.readMode = graph.read_mode?.mode ?? null;
    this.#traffic = null;
    this.#record();
    return changes;
  }

  /**
   * Apply a websocket delta. Returns `{gap: true}` (state untouched) when its seq does not
   * follow the current one — the caller then sends `resync` — else the change summary.
   */
  applyDelta(delta) {
    if (this.seq === null || delta.seq !== this.seq + 1 || (this.viewKey && delta.view_key !== this.viewKey)) {
      return { gap: true };
    }
    const changes = emptyChanges();
    for (const group of ["nodes", "edges"]) {
      const part = delta[group] ?? {};
      const map = this[group];
      for (const id of part.removed ?? []) if (map.delete(id)) changes[group].removed.push(id);
      for (const item of part.added ?? []) { map.set(item.id, item); changes[group].added.push(item); }
      for (const diff of part.changed ?? []) {
        const before = map.get(diff.id);
        if (!before) continue;
        // `unset` names optional fields that disappeared (e.g. an edge's grpc_responses).
        const { unset, ...fields } = diff;
        const after = { ...before, ...fields };
        for (const key of unset ?? []) delete after[key];
        map.set(diff.id, after);
        changes[group].changed.push(diff);
      }
    }
    // An edge whose end vanished cannot be drawn; the server removes both, this is a guard.
    for (const [id, edge] of this.edges) {
      if (!this.nodes.has(edge.source) || !this.nodes.has(edge.target)) {
        this.edges.delete(id);
        changes.edges.removed.push(id);
      }
    }
    this.seq = delta.seq;
    if (delta.query_time !== undefined) this.queryTime = delta.query_time;
    this.warnings = delta.warnings ?? this.warnings;
    if (delta.read_mode !== undefined) this.readMode = delta.read_mode?.mode ?? null;
    this.#traffic = null;
    this.#record();
    return changes;
  }

  /** Inbound and outbound traffic of node `id`: rates, error share, worst p95, TCP bytes/s. */
  nodeTraffic(id) {
    if (this.#traffic === null) this.#traffic = this.#buildTraffic();
    return this.#traffic.get(id) ?? finishTraffic(emptyTraffic());
  }

  #buildTraffic() {
    const index = new Map();
    const of = (id) => {
      let t = index.get(id);
      if (!t) { t = emptyTraffic(); index.set(id, t); }
      return t;
    };
    for (const e of this.edges.values()) {
      const rate = e.request_rate || 0;
      const tcp = (e.tcp_sent_bytes_per_s || 0) + (e.tcp_received_bytes_per_s || 0);
      const t = of(e.target);
      t.inEdges += 1;
      t.inRate += rate;
      t.inErrors += rate * (e.error_rate || 0);
      t.inClientErrors += rate * (e.client_error_rate || 0);
      t.mtlsWeighted += rate * (e.mtls_ratio ?? 0);
      t.inTcp += tcp;
      for (const q of ["p50", "p95", "p99"]) {
        const v = e.latency_ms?.[q];
        if (typeof v === "number" && (t[q] === null || v > t[q])) t[q] = v;
      }
      const s = of(e.source);
      s.outEdges += 1;
      s.outRate += rate;
      s.outTcp += tcp;
    }
    for (const t of index.values()) finishTraffic(t);
    return index;
  }

  /** Total outbound request rate of node `id` (for "% of source traffic" labels). */
  outboundRate(id) {
    return this.nodeTraffic(id).outRate;
  }

  /** The flat description of node or edge `id` that find/hide expressions test. */
  subject(group, id) {
    if (group === "nodes") {
      const n = this.nodes.get(id);
      const t = this.nodeTraffic(id);
      return {
        namespace: n.namespace, name: n.name, app: n.app, version: n.version, workload: n.workload,
        service: n.service, kind: n.kind, health: n.health, cluster: n.cluster, is_gateway: n.is_gateway,
        error_origin: n.error_origin,
        rate: t.inRate, error: t.errorShare, client_error: t.clientErrorShare, rt: t.p95, p50: t.p50,
        p95: t.p95, p99: t.p99, tcp: t.inTcp, mtls: t.mtlsShare,
      };
    }
    const e = this.edges.get(id);
    return {
      protocol: e.protocol, health: e.health, rate: e.request_rate, error: e.error_rate,
      client_error: e.client_error_rate, rt: e.latency_ms?.p95 ?? null, p50: e.latency_ms?.p50 ?? null,
      p95: e.latency_ms?.p95 ?? null, p99: e.latency_ms?.p99 ?? null, mtls: e.mtls_ratio,
      tcp: e.tcp_sent_bytes_per_s === null && e.tcp_received_bytes_per_s === null ? null
        : (e.tcp_sent_bytes_per_s || 0) + (e.tcp_received_bytes_per_s || 0),
    };
  }

  /** Keep a history for element `key` ("nodes:<id>" / "edges:<id>") even on large graphs. */
  watch(key) {
    this.watched.add(key);
  }

  /** `[{t, rate, error, p95}]` recorded for `key` since the page opened (or since it was watched). */
  historyOf(key) {
    return this.history.get(key) ?? [];
  }

  #record() {
    const t = this.queryTime ?? Date.now() / 1000;
    const all = this.nodes.size + this.edges.size <= HISTORY_ALL_LIMIT;
    const push = (key, point) => {
      if (!all && !this.watched.has(key)) return;
      const list = this.history.get(key) ?? [];
      if (list.length && list[list.length - 1].t === t) list[list.length - 1] = point;
      else list.push(point);
      if (list.length > HISTORY_POINTS) list.splice(0, list.length - HISTORY_POINTS);
      this.history.set(key, list);
    };
    for (const e of this.edges.values()) {
      push(`edges:${e.id}`, { t, rate: e.request_rate ?? 0, error: e.error_rate ?? 0, p95: e.latency_ms?.p95 ?? null });
    }
    const needed = all ? [...this.nodes.keys()] : [...this.watched].filter((k) => k.startsWith("nodes:")).map((k) => k.slice(6));
    for (const id of needed) {
      if (!this.nodes.has(id)) continue;
      const tr = this.nodeTraffic(id);
      push(`nodes:${id}`, { t, rate: tr.inRate, error: tr.errorShare, p95: tr.p95 });
    }
    for (const key of this.history.keys()) {
      const [group, id] = [key.slice(0, 5), key.slice(6)];
      if (!this[group].has(id)) this.history.delete(key);
    }
  }
}
