// The graph canvas: the one module that owns the Cytoscape.js instance.
//
// It turns GraphModel change summaries into element updates inside one batch. Metric-only
// changes update data and styles and never move a node; added nodes are placed next to
// their neighbours; a full layout runs only for a new view, a large structural change or on
// request. Graphs up to LARGE_NODES are laid out by ELK's layered algorithm in a Web Worker:
// it sizes every node with its label, keeps app boxes apart, routes long edges around the
// nodes in between and reserves room for edge labels (docs/decisions/0024-graph-layout.md).
// Larger graphs are laid out with fCoSE in a Web Worker (headless Cytoscape).

import { badgeLine, nodeServiceKey } from "./badges.js";
import { edgeLabel } from "./format.js";

const cytoscape = globalThis.cytoscape;
cytoscape.use(globalThis.cytoscapeDagre);
cytoscape.use(globalThis.cytoscapeFcose);

/** Above this many nodes: force layout in a worker, lighter styles. */
export const LARGE_NODES = 300;
/** Above this many edges the traffic animation is not offered (it draws every edge's dots each frame). */
export const ANIMATION_EDGE_LIMIT = 800;
/** A structural change adding more than this share of the nodes gets a fresh layout. */
const RELAYOUT_SHARE = 0.3;
/** Edge labels are this size at zoom 1; Cytoscape skips drawing them below MIN_EDGE_LABEL_PX. */
const EDGE_FONT_PX = 9;
const MIN_EDGE_LABEL_PX = 7;
const EDGE_LABEL_PADDING = 1;
const FONT_FAMILY = "system-ui, sans-serif";
/** ELK's answer is awaited this long before the layered dagre layout is used instead. */
const ELK_TIMEOUT_MS = 8000;

/**
 * ELK layered options (https://eclipse.dev/elk/reference/algorithms/org-eclipse-elk-layered.html).
 * Coordinates come back relative to the root ("json.*Coords"), so nested boxes need no sums.
 * POLYLINE routing: Cytoscape draws the bends as straight segments, as ELK computed them.
 */
const ELK_OPTIONS = {
  "elk.algorithm": "layered",
  "elk.direction": "RIGHT",
  "elk.hierarchyHandling": "INCLUDE_CHILDREN",
  "elk.edgeRouting": "POLYLINE",
  "elk.edgeLabels.inline": "true",
  "elk.spacing.nodeNode": "16",
  "elk.spacing.edgeNode": "14",
  "elk.spacing.edgeEdge": "8",
  "elk.spacing.edgeLabel": "2",
  "elk.layered.spacing.nodeNodeBetweenLayers": "40",
  "elk.layered.spacing.edgeNodeBetweenLayers": "14",
  // Brandes–Köpf, not network simplex: 3 s rather than 77 s for 300 nodes / 600 labelled edges
  // on the 2-core machine (docs/decisions/0024-graph-layout.md).
  "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
  "elk.json.shapeCoords": "ROOT",
  "elk.json.edgeCoords": "ROOT",
};
/** Room around a node's drawing (border, origin ring) that ELK keeps free too. */
const NODE_MARGIN = 4;
/** Cytoscape's padding of a box (the `node[?group]` style) and the gap above it for its label. */
const GROUP_PADDING = 8;
const GROUP_LABEL_GAP = 4;

/**
 * Cytoscape `segments` weights and distances (edge-distances: node-position) that put an edge
 * from `source` to `target` through `points` ([{x, y}]). Pure.
 */
export function segmentsThrough(source, target, points) {
  const dx = target.x - source.x;
  const dy = target.y - source.y;
  const length2 = dx * dx + dy * dy || 1;
  const length = Math.sqrt(length2);
  const weights = [];
  const distances = [];
  for (const p of points) {
    const px = p.x - source.x;
    const py = p.y - source.y;
    weights.push((px * dx + py * dy) / length2);
    // Cytoscape offsets along (-dy, dx) / length.
    distances.push((px * -dy + py * dx) / length);
  }
  return { weights, distances };
}

/**
 * The bends of an ELK edge from `start` through `bends` to `end`, made so that Cytoscape draws
 * its label where ELK reserved room for it (`label`: the centre, or null). Cytoscape draws a
 * segments edge's label at the middle point of an odd list, so the point of the path nearest the
 * label becomes that middle point (collinear points balance the two sides), and `offset` is what
 * remains from there to the label's centre (text margins). Pure.
 */
export function routeThroughLabel(start, bends, end, label) {
  if (!label) return { bends, offset: { x: 0, y: 0 } };
  const path = [start, ...bends, end];
  // The leg of the path the label lies on (ELK puts inline labels on the edge, or beside it).
  let best = 0;
  let bestDistance = Infinity;
  for (let i = 0; i + 1 < path.length; i += 1) {
    const d = distanceToSegment(label, path[i], path[i + 1]);
    if (d < bestDistance) { bestDistance = d; best = i; }
  }
  const on = nearestOnSegment(label, path[best], path[best + 1]);
  const before = bends.slice(0, best);
  const after = bends.slice(best);
  const split = (list, from, to) => {
    // Halve the longest leg of `from → list… → to` with a collinear point.
    const legs = [from, ...list, to];
    let longest = 0;
    let longestLength = -1;
    for (let i = 0; i + 1 < legs.length; i += 1) {
      const l = Math.hypot(legs[i + 1].x - legs[i].x, legs[i + 1].y - legs[i].y);
      if (l > longestLength) { longestLength = l; longest = i; }
    }
    const mid = { x: (legs[longest].x + legs[longest + 1].x) / 2, y: (legs[longest].y + legs[longest + 1].y) / 2 };
    return [...list.slice(0, longest), mid, ...list.slice(longest)];
  };
  let left = before;
  let right = after;
  while (left.length < right.length) left = split(left, start, on);
  while (right.length < left.length) right = split(right, on, end);
  return { bends: [...left, on, ...right], offset: { x: label.x - on.x, y: label.y - on.y } };
}

/** Dots of the traffic animation are this far apart along an edge (model px). */
const FLOW_SPACING = 34;

/**
 * The path Cytoscape draws for `edge`, as a polyline `[{x, y, at}]` (`at`: length so far), from
 * its public geometry: segment points, or quadratic curves through its control points (the way
 * Cytoscape chains them: each control point, with the midpoints between them as joints).
 */
function edgePath(edge) {
  const start = edge.sourceEndpoint();
  const end = edge.targetEndpoint();
  if (!start || !end || !Number.isFinite(start.x) || !Number.isFinite(end.x)) return [];
  const points = [start];
  const segments = edge.segmentPoints();
  const controls = segments ? null : edge.controlPoints();
  if (segments) points.push(...segments);
  else if (controls?.length) {
    let from = start;
    controls.forEach((c, i) => {
      const to = i + 1 < controls.length ? { x: (c.x + controls[i + 1].x) / 2, y: (c.y + controls[i + 1].y) / 2 } : end;
      for (let t = 0.1; t <= 1.0001; t += 0.1) {
        const u = 1 - t;
        points.push({ x: u * u * from.x + 2 * u * t * c.x + t * t * to.x, y: u * u * from.y + 2 * u * t * c.y + t * t * to.y });
      }
      from = to;
    });
  }
  if (!controls?.length) points.push(end);
  let at = 0;
  return points.map((p, i) => {
    if (i) at += Math.hypot(p.x - points[i - 1].x, p.y - points[i - 1].y);
    return { x: p.x, y: p.y, at };
  });
}

/** The point `distance` along a polyline of edgePath. */
function pointAt(path, distance) {
  for (let i = 1; i < path.length; i += 1) {
    if (path[i].at >= distance) {
      const leg = path[i].at - path[i - 1].at || 1;
      const t = (distance - path[i - 1].at) / leg;
      return { x: path[i - 1].x + t * (path[i].x - path[i - 1].x), y: path[i - 1].y + t * (path[i].y - path[i - 1].y) };
    }
  }
  return path[path.length - 1];
}

function nearestOnSegment(p, a, b) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const l2 = dx * dx + dy * dy;
  const t = l2 ? Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / l2)) : 0;
  return { x: a.x + t * dx, y: a.y + t * dy };
}

function distanceToSegment(p, a, b) {
  const on = nearestOnSegment(p, a, b);
  return Math.hypot(p.x - on.x, p.y - on.y);
}

const GLYPH = { degraded: "▲ ", failing: "✖ ", idle: "○ " };
/** Leads the label of an edge into a service whose routing changed inside the window. */
export const ROUTING_CHANGED_MARK = "↻";
const SHAPE = { workload: "ellipse", app: "round-rectangle", service: "triangle", unknown: "diamond", external: "hexagon" };

/** Okabe–Ito colours (safe for the common colour-vision deficiencies), one set per scheme. */
const PALETTES = {
  light: { healthy: "#009E73", degraded: "#E69F00", failing: "#D55E00", idle: "#9aa3b2", unknown: "#6b7686",
    text: "#1d2330", textBg: "#ffffff", edge: "#8a93a3", accent: "#0072B2", bg: [255, 255, 255], group: "#eef1f5", flow: "#1d2330" },
  dark: { healthy: "#2fbf8f", degraded: "#F0B429", failing: "#FF7A45", idle: "#6b7385", unknown: "#8d97a8",
    text: "#dde3ee", textBg: "#141a24", edge: "#7b8596", accent: "#56B4E9", bg: [20, 26, 36], group: "#1d2533", flow: "#f2f5fa" },
};

/** Whether the browser can give Cytoscape a hardware-accelerated WebGL 2 context. */
export function webglAvailable() {
  try {
    const gl = document.createElement("canvas").getContext("webgl2");
    if (!gl) return false;
    // A software rasteriser (SwiftShader, llvmpipe) draws slower than the 2D canvas does.
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    const name = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
    return !/swiftshader|llvmpipe|software/i.test(name);
  } catch {
    return false;
  }
}

/**
 * Two lines: the name, then the namespace with the node's tags and its routing badges
 * (`routing`, badges.badgeLine). The badges share the second line rather than adding a third:
 * the layout spaces the nodes of a rank for two-line labels, and a third line ran into the
 * next node down.
 */
function nodeLabel(node, routing = "") {
  const badges = [];
  if (node.error_origin) badges.push("⚑ ORIGIN");
  if (node.is_gateway) badges.push("GW");
  if (node.kind === "unknown" && node.name !== "unknown") badges.push("UNKNOWN");
  if (node.kind === "external") badges.push("EXT");
  // A version inside an app box leaves the namespace to the box's label above it.
  const namespace = node.kind === "unknown" || node.kind === "external" || node.parent ? null : node.namespace;
  const second = [namespace, badges.join(" "), routing].filter(Boolean).join(" · ");
  return `${GLYPH[node.health] ?? ""}${node.name}${second ? `\n${second}` : ""}`;
}

function mtlsClass(ratio) {
  if (typeof ratio !== "number" || ratio <= 0) return "";
  return ratio >= 1 ? "mtls" : "mtls-partial";
}

/** An edge's traffic on one scale: requests per second, or kB/s both ways for TCP. */
function edgeTraffic(edge) {
  return edge.protocol === "tcp"
    ? ((edge.tcp_sent_bytes_per_s || 0) + (edge.tcp_received_bytes_per_s || 0)) / 1000
    : edge.request_rate || 0;
}

function edgeWidth(edge) {
  return Math.min(7, 1.2 + Math.log10(1 + edgeTraffic(edge)) * 1.6);
}

function stylesheet(p, large) {
  return [
    { selector: "node", style: {
      "background-color": "data(color)", "background-opacity": 0.9, "border-width": 3, "border-color": "data(color)",
      "border-style": "solid", shape: "data(shape)", width: 30, height: 30, label: "data(label)",
      "font-size": 10, "font-family": FONT_FAMILY, color: p.text, "text-valign": "bottom", "text-margin-y": 4,
      "text-wrap": "wrap", "text-max-width": 160, "min-zoomed-font-size": large ? 9 : 6,
      "text-background-color": p.textBg, "text-background-opacity": large ? 0 : 0.7, "text-background-padding": 1,
    } },
    { selector: "node[health = 'degraded']", style: { "border-style": "dashed", "border-color": "#7a4f00" } },
    { selector: "node[health = 'failing']", style: { "border-style": "double", "border-width": 5, "border-color": "#7d2a00" } },
    { selector: "node[health = 'idle']", style: { "border-style": "dotted", "background-opacity": 0.35 } },
    { selector: "node[?gateway]", style: { width: 38, height: 38 } },
    // Where errors start: a ring around the node besides the ⚑ ORIGIN badge (shape, not colour).
    { selector: "node[?origin]", style: { "outline-width": 4, "outline-color": p.text, "outline-offset": 3, "outline-style": "solid" } },
    // Wide enough for "namespace · v1:34 v2:33 v3:33 · ⚡" on one line (a wrap would add a line).
    { selector: "node[?routed]", style: { "text-max-width": 240 } },
    { selector: "node[?group]", style: {
      shape: "round-rectangle", "background-color": p.group, "background-opacity": 0.6, "border-width": 1,
      "border-style": "dashed", "border-color": p.edge, "text-valign": "top", "text-margin-y": -4, padding: GROUP_PADDING,
    } },
    { selector: "edge", style: {
      width: "data(width)", "line-color": "data(color)", "target-arrow-color": "data(color)", "target-arrow-shape": "triangle",
      // Haystack edges (no arrowheads, no label layout per bend) are Cytoscape's cheapest: large
      // graphs use them and show direction in the side panel instead.
      "arrow-scale": 0.8, "curve-style": large ? "haystack" : "bezier", "haystack-radius": 0, label: "data(label)", "font-size": EDGE_FONT_PX,
      "font-family": FONT_FAMILY, color: p.text, "text-background-color": p.textBg, "text-background-opacity": 0.85,
      "text-background-padding": EDGE_LABEL_PADDING, "min-zoomed-font-size": large ? 10 : MIN_EDGE_LABEL_PX, "line-style": "solid",
    } },
    // An edge ELK routed around the nodes in its way: straight legs through its bends.
    { selector: "edge.routed", style: {
      "curve-style": "segments", "edge-distances": "node-position", "segment-weights": "data(segW)", "segment-distances": "data(segD)",
      "text-margin-x": "data(labelDx)", "text-margin-y": "data(labelDy)",
    } },
    { selector: "edge[health = 'degraded']", style: { "line-style": "dashed", "line-dash-pattern": [7, 4] } },
    { selector: "edge[health = 'failing']", style: { "line-style": "dotted", "line-dash-pattern": [2, 3] } },
    { selector: "edge[health = 'idle']", style: { opacity: 0.45 } },
    { selector: "edge.show-mtls.mtls", style: { "source-arrow-shape": "circle", "source-arrow-color": p.accent, "source-arrow-fill": "filled" } },
    { selector: "edge.show-mtls.mtls-partial", style: { "source-arrow-shape": "circle", "source-arrow-color": p.accent, "source-arrow-fill": "hollow" } },
    { selector: ".dim", style: { opacity: 0.15 } },
    { selector: ".found", style: { "underlay-color": p.accent, "underlay-opacity": 0.35, "underlay-padding": 6 } },
    { selector: ".filtered", style: { display: "none" } },
    { selector: ":selected", style: { "overlay-color": p.accent, "overlay-opacity": 0.25, "overlay-padding": 4 } },
  ];
}

export class GraphCanvas {
  /**
   * `container`: the element to draw in; `workerUrl`: static/js/graph/layout-worker.js;
   * `vendorUrl`: where the worker finds Cytoscape; `onSelect({group, id} | null)`;
   * `expectLarge`: the first graph has more than LARGE_NODES nodes, so draw with WebGL when the
   * browser has it (the canvas renderer, which draws dash patterns, otherwise); `renderer`
   * ("auto", "canvas" or "webgl") overrides that choice.
   */
  constructor({ container, workerUrl, vendorUrl, onSelect, scheme = "light", expectLarge = false, renderer = "auto" }) {
    this.container = container;
    this.workerUrl = workerUrl;
    this.vendorUrl = vendorUrl;
    this.onSelect = onSelect;
    this.scheme = scheme;
    this.palette = PALETTES[scheme];
    this.large = false;
    this.labelMode = "rate";
    this.showMtls = true;
    this.layoutName = "auto";
    this.layoutToken = 0;
    this.animTimer = null;
    this.filtered = false;
    /** Traffic badges by "namespace/service" (badges.loadRouting), drawn under the labels. */
    this.routing = new Map();
    /** Services whose routing changed inside the window (setRoutingChanged): their edges say so. */
    this.routingChanged = new Map();
    this.webgl = renderer === "canvas" ? false : (renderer === "webgl" || expectLarge) && webglAvailable();
    this.cy = cytoscape({
      container,
      elements: [],
      style: stylesheet(this.palette, false),
      minZoom: 0.03,
      maxZoom: 4,
      boxSelectionEnabled: false,
      selectionType: "single",
      renderer: this.webgl ? { name: "canvas", webgl: true, webglBgColor: this.palette.bg } : { name: "canvas" },
      // Large graphs pan and zoom a cached bitmap of the canvas and redraw once the view rests.
      textureOnViewport: expectLarge && !this.webgl,
      pixelRatio: expectLarge ? 1 : "auto",
    });
    this.pixelRatio = expectLarge ? 1 : globalThis.devicePixelRatio || 1;
    this.cy.on("tap", "node, edge", (evt) => {
      const el = evt.target;
      this.onSelect({ group: el.isNode() ? "nodes" : "edges", id: el.id() });
    });
    this.cy.on("tap", (evt) => { if (evt.target === this.cy) this.onSelect(null); });
    // A route's bends are placed for where its ends were: a node dragged away takes its edges
    // back to plain curves.
    this.cy.on("drag", "node", (evt) => evt.target.union(evt.target.descendants()).connectedEdges(".routed").removeClass("routed"));
  }

  /** The renderer in use: "webgl" or "canvas". */
  get renderer() {
    return this.webgl ? "webgl" : "canvas";
  }

  setScheme(scheme) {
    this.scheme = scheme;
    this.palette = PALETTES[scheme];
    this.cy.style(stylesheet(this.palette, this.large));
    this.cy.batch(() => this.cy.elements().forEach((el) => el.data("color", this.palette[el.data("health")] ?? this.palette.unknown)));
  }

  #nodeData(node) {
    const badges = node.is_group ? "" : badgeLine(this.routing.get(nodeServiceKey(node)));
    return {
      id: node.id, label: nodeLabel(node, badges), routed: Boolean(badges), health: node.health, shape: SHAPE[node.kind] ?? "ellipse",
      color: this.palette[node.health] ?? this.palette.unknown, gateway: Boolean(node.is_gateway),
      origin: Boolean(node.error_origin),
      group: Boolean(node.is_group), ns: node.namespace ?? "", ...(node.parent ? { parent: node.parent } : {}),
    };
  }

  #edgeData(edge, model) {
    return {
      id: edge.id, source: edge.source, target: edge.target, health: edge.health,
      color: this.palette[edge.health] ?? this.palette.edge, width: edgeWidth(edge),
      label: this.#edgeText(edge, model),
      // For the traffic animation: how fast its dots go, and the share of them marked as errors.
      rate: edgeTraffic(edge),
      errorShare: edge.protocol === "tcp" ? 0 : Math.min(1, edge.error_rate || 0),
    };
  }

  // The health glyph leads the label so that health never rests on colour alone (the WebGL
  // renderer draws no dash patterns).
  // A ↻ marks an edge into a service whose routing changed inside the window: its figures mix
  // the routing before and after (the side panel says when).
  #edgeText(edge, model) {
    const text = edgeLabel(edge, this.labelMode, model.outboundRate(edge.source));
    const glyph = GLYPH[edge.health]?.trim() ?? "";
    const target = model.nodes.get(edge.target);
    const changed = target && this.routingChanged.has(nodeServiceKey(target)) ? ROUTING_CHANGED_MARK : "";
    return [glyph, changed, text].filter(Boolean).join(" ");
  }

  #edgeClasses(edge) {
    return [mtlsClass(edge.mtls_ratio), this.showMtls ? "show-mtls" : ""].filter(Boolean).join(" ");
  }

  /**
   * Bring the canvas to the model after `changes` (a GraphModel change summary).
   * `fresh`: a new view, so lay everything out from scratch; `keepPlaced`: never lay out again
   * (idle nodes shown or hidden), only place what is new beside its neighbours. Returns a promise
   * that settles when any layout it started has finished.
   */
  update(model, changes, { fresh = false, keepPlaced = false } = {}) {
    const cy = this.cy;
    const large = model.nodes.size > LARGE_NODES;
    if (large !== this.large) {
      this.large = large;
      cy.style(stylesheet(this.palette, large));
    }
    const addedNodes = [];
    const nodesToAdd = fresh ? [...model.nodes.values()] : changes.nodes.added;
    // Group (compound) nodes first: a child needs its parent to exist.
    const ordered = [...nodesToAdd].sort((a, b) => Number(Boolean(b.is_group)) - Number(Boolean(a.is_group)));
    const edgesToAdd = (fresh ? [...model.edges.values()] : changes.edges.added)
      .filter((e) => model.nodes.has(e.source) && model.nodes.has(e.target));
    const toAdd = [
      ...ordered.map((n) => ({ group: "nodes", data: this.#nodeData(n) })),
      ...edgesToAdd.map((e) => ({ group: "edges", data: this.#edgeData(e, model), classes: this.#edgeClasses(e) })),
    ];
    if (fresh) {
      // One add outside a batch: Cytoscape styles a whole new collection at once, whereas
      // inside a batch it queues elements one by one (quadratic on thousands of elements).
      cy.elements().remove();
      addedNodes.push(...cy.add(toAdd).nodes().filter((n) => !n.data("group")));
    }
    cy.batch(() => {
      if (fresh) return;
      for (const id of changes.edges.removed) cy.getElementById(id).remove();
      for (const id of changes.nodes.removed) cy.getElementById(id).remove();
      addedNodes.push(...cy.add(toAdd).nodes().filter((n) => !n.data("group")));
      for (const diff of changes.nodes.changed) {
        const node = model.nodes.get(diff.id);
        const el = cy.getElementById(diff.id);
        if (node && el.nonempty()) el.data(this.#nodeData(node));
      }
      for (const id of this.#edgesToRestyle(model, changes)) {
        const edge = model.edges.get(id);
        const el = cy.getElementById(id);
        if (!edge || el.empty()) continue;
        el.data(this.#edgeData(edge, model));
        el.classes(this.#edgeClasses(edge));
      }
    });
    this.#refreshAnimation();
    if (fresh || (!keepPlaced && addedNodes.length > 0 && addedNodes.length > RELAYOUT_SHARE * cy.nodes().length)) {
      return this.layout({ fit: true, unplaced: fresh });
    }
    if (addedNodes.length) this.#placeNearNeighbours(addedNodes);
    return Promise.resolve();
  }

  // The changed edges, and — for "% of source traffic" labels, which depend on every outbound
  // edge of a source — the siblings of any edge added, removed or changed.
  #edgesToRestyle(model, changes) {
    const ids = new Set(changes.edges.changed.map((d) => d.id));
    if (this.labelMode !== "share") return ids;
    const sources = new Set();
    for (const d of changes.edges.changed) sources.add(model.edges.get(d.id)?.source);
    for (const e of changes.edges.added) sources.add(e.source);
    for (const id of changes.edges.removed) sources.add(this.cy.getElementById(id).data("source"));
    for (const e of model.edges.values()) if (sources.has(e.source)) ids.add(e.id);
    return ids;
  }

  #placeNearNeighbours(nodes) {
    const newIds = new Set(nodes.map((n) => n.id()));
    const others = this.cy.nodes().filter((n) => !n.data("group") && !newIds.has(n.id()));
    const bb = others.boundingBox();
    // Boxes (with labels) already taken; each node placed joins them.
    const taken = others.map((n) => n.boundingBox({ includeLabels: true, includeOverlays: false }));
    const free = (b) => !taken.some((t) => b.x1 < t.x2 + 8 && t.x1 < b.x2 + 8 && b.y1 < t.y2 + 8 && t.y1 < b.y2 + 8);
    nodes.forEach((node, i) => {
      const placed = node.neighborhood("node").filter((n) => !newIds.has(n.id()) && !n.data("group"));
      let x;
      let y;
      if (placed.length) {
        x = placed.reduce((s, n) => s + n.position("x"), 0) / placed.length;
        y = placed.reduce((s, n) => s + n.position("y"), 0) / placed.length;
      } else {
        x = (Number.isFinite(bb.x2) ? bb.x2 : 0) + 60;
        y = (Number.isFinite(bb.y1) ? bb.y1 : 0) + i * 50;
      }
      // Out along a golden-angle spiral to the first spot where the node and its label lie on
      // nothing already drawn (siblings included), so a new node never hides another.
      const own = node.boundingBox({ includeLabels: true, includeOverlays: false });
      const at = node.position();
      const dx1 = own.x1 - at.x; const dx2 = own.x2 - at.x; const dy1 = own.y1 - at.y; const dy2 = own.y2 - at.y;
      let spot = { x: x + 55, y };
      for (let k = 1; k < 400; k += 1) {
        const angle = (i + k) * 2.39996;
        const r = 55 + 9 * Math.sqrt(k);
        const c = { x: x + r * Math.cos(angle), y: y + r * Math.sin(angle) };
        const box = { x1: c.x + dx1, x2: c.x + dx2, y1: c.y + dy1, y2: c.y + dy2 };
        if (free(box)) { spot = c; taken.push(box); break; }
      }
      node.position(spot);
    });
  }

  /**
   * Lay the graph out with the selected layout; resolves when the positions are applied.
   * `unplaced`: the nodes were just added and sit on one point, so the canvas is hidden until
   * an asynchronous layout has placed them.
   */
  layout({ fit = true, unplaced = false } = {}) {
    const token = ++this.layoutToken;
    const cy = this.cy;
    // Whatever an older layout hid is this one's to show.
    this.container.classList.remove("layout-pending");
    let name = this.layoutName === "auto" ? (this.large ? "fcose" : "elk") : this.layoutName;
    if (cy.nodes().empty()) return Promise.resolve();
    // Routes belong to the layout that computed them.
    cy.edges(".routed").removeClass("routed");
    if (name === "elk") {
      if (globalThis.ELK && typeof Worker !== "undefined") return this.#elkLayout(token, fit, unplaced);
      name = "dagre";
    }
    if (name === "fcose" && this.large && typeof Worker !== "undefined") {
      // A quick placement first so the graph is on screen and interactive at once.
      this.#quickGrid(fit);
      return this.#workerLayout(token, fit);
    }
    return this.#runLayout(name, fit);
  }

  #runLayout(name, fit) {
    const cy = this.cy;
    const options = {
      dagre: { name: "dagre", rankDir: "LR", nodeSep: 28, rankSep: 110, edgeSep: 8, fit, padding: 30, animate: false },
      fcose: { name: "fcose", quality: "default", randomize: true, animate: false, fit, padding: 30, nodeRepulsion: 6500, idealEdgeLength: 90 },
      concentric: { name: "concentric", fit, padding: 30, minNodeSpacing: 20, concentric: (n) => n.degree(), levelWidth: () => 2 },
      grid: { name: "grid", fit, padding: 30, avoidOverlap: true },
    }[name];
    return new Promise((resolve) => {
      const layout = cy.layout(options);
      layout.one("layoutstop", () => resolve());
      layout.run();
    });
  }

  /**
   * ELK layered in its Web Worker. Every node is given to ELK as the box its drawing and label
   * take (so labels cannot land on neighbours), app boxes as ELK parents with Cytoscape's padding
   * and their label above (so boxes cannot overlap), and edge labels as ELK labels (so layers
   * leave room for them). Long edges get ELK's bends. With `hide`, the canvas keeps the class
   * `layout-pending` (hidden) until ELK answers; if it fails or is too slow, the layered dagre
   * layout is used.
   */
  #elkLayout(token, fit, hide) {
    const cy = this.cy;
    const graph = this.#elkGraph();
    this.elk ??= new globalThis.ELK({ workerUrl: `${this.vendorUrl}elk-worker.min.js` });
    if (hide) this.container.classList.add("layout-pending");
    let timer = null;
    const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error("ELK took too long")), ELK_TIMEOUT_MS); });
    return Promise.race([this.elk.layout(graph), timeout])
      .then((result) => {
        if (token !== this.layoutToken) return;
        this.#applyElk(result);
        if (fit) cy.fit(undefined, 30);
      })
      .catch((error) => {
        if (token !== this.layoutToken) return undefined;
        console.warn("meshui: ELK layout failed, using dagre:", error);
        // A worker still computing would keep a core busy for nothing.
        this.elk?.terminateWorker();
        this.elk = null;
        return this.#runLayout("dagre", fit);
      })
      .finally(() => {
        clearTimeout(timer);
        if (token === this.layoutToken) this.container.classList.remove("layout-pending");
      });
  }

  #elkGraph() {
    const cy = this.cy;
    const byId = new Map();
    const root = { id: "root", layoutOptions: ELK_OPTIONS, children: [], edges: [] };
    // Where each node's centre lies inside the box ELK places, to put it back there.
    this.elkOffsets = new Map();
    const groups = cy.nodes().filter((n) => n.data("group"));
    for (const group of groups) {
      const label = group.boundingBox({ includeNodes: false, includeEdges: false, includeLabels: true });
      const labelHeight = Number.isFinite(label.h) ? label.h : 0;
      byId.set(group.id(), {
        id: group.id(), children: [],
        layoutOptions: {
          "elk.padding": `[top=${GROUP_PADDING + labelHeight + GROUP_LABEL_GAP},left=${GROUP_PADDING},bottom=${GROUP_PADDING},right=${GROUP_PADDING}]`,
          // As wide as its label at least, so the label stays over its own box.
          "elk.nodeSize.constraints": "MINIMUM_SIZE",
          "elk.nodeSize.minimum": `(${Number.isFinite(label.w) ? label.w : 0}, 0)`,
          "elk.contentAlignment": "H_CENTER V_CENTER",
        },
      });
    }
    for (const node of cy.nodes().filter((n) => !n.data("group"))) {
      const box = node.boundingBox({ includeLabels: true, includeOverlays: false });
      const at = node.position();
      this.elkOffsets.set(node.id(), { x: at.x - box.x1 + NODE_MARGIN, y: at.y - box.y1 + NODE_MARGIN });
      byId.set(node.id(), { id: node.id(), width: box.w + 2 * NODE_MARGIN, height: box.h + 2 * NODE_MARGIN });
    }
    for (const [id, item] of byId) {
      const parent = cy.getElementById(id).data("parent");
      (parent && byId.has(parent) ? byId.get(parent).children : root.children).push(item);
    }
    const measure = document.createElement("canvas").getContext("2d");
    measure.font = `${EDGE_FONT_PX}px ${FONT_FAMILY}`;
    for (const edge of cy.edges()) {
      const item = { id: edge.id(), sources: [edge.data("source")], targets: [edge.data("target")] };
      const text = edge.data("label");
      if (text) {
        // Measured as Cytoscape draws it (font and background padding of the edge style): an
        // edge not drawn yet has no label box to ask for.
        const width = measure.measureText(text).width + 2 * EDGE_LABEL_PADDING;
        item.labels = [{ text, width, height: EDGE_FONT_PX + 4 + 2 * EDGE_LABEL_PADDING, layoutOptions: { "elk.edgeLabels.placement": "CENTER" } }];
      }
      root.edges.push(item);
    }
    return root;
  }

  #applyElk(result) {
    const cy = this.cy;
    const placed = new Map();
    const walk = (item) => {
      for (const child of item.children ?? []) {
        placed.set(child.id, child);
        walk(child);
      }
    };
    walk(result);
    const routes = new Map();
    const collect = (item) => {
      for (const e of item.edges ?? []) routes.set(e.id, e);
      for (const child of item.children ?? []) collect(child);
    };
    collect(result);
    cy.batch(() => {
      cy.nodes().filter((n) => !n.data("group")).forEach((n) => {
        const p = placed.get(n.id());
        const offset = this.elkOffsets.get(n.id());
        if (p && offset) n.position({ x: p.x + offset.x, y: p.y + offset.y });
      });
      cy.edges().forEach((e) => {
        const route = routes.get(e.id());
        const section = route?.sections?.[0];
        const label = route?.labels?.[0];
        const labelCentre = label && Number.isFinite(label.x) ? { x: label.x + label.width / 2, y: label.y + label.height / 2 } : null;
        if (!section || e.isLoop()) return;
        const { bends, offset } = routeThroughLabel(section.startPoint, section.bendPoints ?? [], section.endPoint, labelCentre);
        if (!bends.length) return;
        const { weights, distances } = segmentsThrough(e.source().position(), e.target().position(), bends);
        e.data({ segW: weights, segD: distances, labelDx: offset.x, labelDy: offset.y });
        e.addClass("routed");
      });
    });
  }

  // Namespace by namespace along a square grid: no label measuring (Cytoscape's grid layout
  // measures every node), and a namespace's nodes start out close together.
  // The viewport is fitted from the grid's own extent: cy.fit() would measure every label.
  #quickGrid(fit) {
    const nodes = this.cy.nodes().filter((n) => !n.data("group"));
    const ordered = nodes.sort((a, b) => (a.data("ns") + a.id()).localeCompare(b.data("ns") + b.id()));
    const columns = Math.ceil(Math.sqrt(ordered.length));
    const spacing = 70;
    const index = new Map(ordered.map((n, i) => [n.id(), i]));
    this.cy.batch(() => nodes.positions((n) => {
      const i = index.get(n.id());
      return { x: (i % columns) * spacing, y: Math.floor(i / columns) * spacing };
    }));
    if (!fit) return;
    const extent = { w: (columns - 1) * spacing + 60, h: (Math.ceil(ordered.length / columns) - 1) * spacing + 60 };
    const zoom = Math.min(this.cy.width() / extent.w, this.cy.height() / extent.h, this.cy.maxZoom());
    this.cy.viewport({
      zoom,
      pan: { x: (this.cy.width() - (extent.w - 60) * zoom) / 2, y: (this.cy.height() - (extent.h - 60) * zoom) / 2 },
    });
  }

  #workerLayout(token, fit) {
    const cy = this.cy;
    const payload = {
      vendorUrl: this.vendorUrl,
      nodes: cy.nodes().map((n) => ({ id: n.id(), parent: n.data("parent") ?? null })),
      edges: cy.edges().map((e) => ({ id: e.id(), source: e.data("source"), target: e.data("target") })),
    };
    return new Promise((resolve) => {
      const worker = new Worker(this.workerUrl);
      const done = () => { worker.terminate(); resolve(); };
      worker.onmessage = (msg) => {
        if (token === this.layoutToken && msg.data.positions) {
          const positions = msg.data.positions;
          cy.batch(() => cy.nodes().forEach((n) => {
            const p = positions[n.id()];
            if (p) n.position({ x: p[0], y: p[1] });
          }));
          if (fit) cy.fit(undefined, 30);
        }
        done();
      };
      worker.onerror = () => done();
      worker.postMessage(payload);
    });
  }

  /** Edge labels: a key of format.EDGE_LABEL_MODES. */
  setLabelMode(mode, model) {
    this.labelMode = mode;
    this.cy.batch(() => this.cy.edges().forEach((el) => {
      const edge = model.edges.get(el.id());
      if (edge) el.data("label", this.#edgeText(edge, model));
    }));
  }

  /**
   * Show `routing` (Map "namespace/service" → badges) on the nodes of those services: labels
   * only, so nothing moves.
   */
  /** Services whose routing changed inside the window ("namespace/service" → unix seconds). */
  setRoutingChanged(changed, model) {
    const before = this.routingChanged;
    this.routingChanged = changed;
    if (before.size === 0 && changed.size === 0) return;
    this.cy.batch(() => this.cy.edges().forEach((el) => {
      const edge = model.edges.get(el.id());
      if (edge) el.data("label", this.#edgeText(edge, model));
    }));
  }

  setRouting(routing, model) {
    this.routing = routing;
    this.cy.batch(() => this.cy.nodes().forEach((el) => {
      const node = model.nodes.get(el.id());
      if (!node) return;
      const { label, routed } = this.#nodeData(node);
      el.data({ label, routed });
    }));
  }

  setShowMtls(on, model) {
    this.showMtls = on;
    this.cy.batch(() => this.cy.edges().forEach((el) => {
      const edge = model.edges.get(el.id());
      if (edge) el.classes(this.#edgeClasses(edge));
    }));
  }

  /**
   * Traffic animation (small graphs only): dots moving from caller to callee along every edge
   * that carries traffic, drawn on a canvas of their own over the graph. The edges keep their
   * line styles, so dashed still means degraded. Faster dots mean more traffic; a share of the
   * dots equal to the edge's error rate are error dots — vermillion squares with a dark rim
   * where the others are round — so errors show without relying on colour.
   */
  setAnimation(on) {
    this.animate = on;
    this.#refreshAnimation();
  }

  /** Whether the graph is small enough to animate. */
  get canAnimate() {
    return this.cy.edges().length <= ANIMATION_EDGE_LIMIT;
  }

  /** What the last animation frame drew: `{edges, dots, errorDots}` (zeros when off). */
  get flowFrame() {
    return this.lastFlow ?? { edges: 0, dots: 0, errorDots: 0 };
  }

  #refreshAnimation() {
    const want = this.animate && this.canAnimate;
    if (!want) {
      if (this.animFrame) cancelAnimationFrame(this.animFrame);
      this.animFrame = null;
      this.lastFlow = null;
      this.flowCanvas?.remove();
      this.flowCanvas = null;
      return;
    }
    if (this.animFrame) return;
    if (!this.flowCanvas) {
      this.flowCanvas = document.createElement("canvas");
      this.flowCanvas.className = "flow-overlay";
      this.flowCanvas.setAttribute("aria-hidden", "true");
      this.flowCanvas.dataset.testid = "flow-overlay";
      this.container.after(this.flowCanvas);
    }
    const frame = (now) => {
      this.#drawFlow(now / 1000);
      this.animFrame = requestAnimationFrame(frame);
    };
    this.animFrame = requestAnimationFrame(frame);
  }

  #drawFlow(seconds) {
    const canvas = this.flowCanvas;
    const ratio = globalThis.devicePixelRatio || 1;
    const width = this.cy.width();
    const height = this.cy.height();
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const g = canvas.getContext("2d");
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, canvas.width, canvas.height);
    const zoom = this.cy.zoom();
    const pan = this.cy.pan();
    g.setTransform(ratio * zoom, 0, 0, ratio * zoom, ratio * pan.x, ratio * pan.y);
    const stats = { edges: 0, dots: 0, errorDots: 0 };
    // Never under 3 screen px, so the dots stay visible on a graph zoomed out to fit.
    const radius = Math.max(2.6, 3 / zoom);
    this.cy.edges(":visible").forEach((edge) => {
      const rate = edge.data("rate") ?? 0;
      if (!(rate > 0) || edge.data("health") === "idle" || edge.hasClass("dim")) return;
      const path = edgePath(edge);
      const length = path.length ? path[path.length - 1].at : 0;
      if (length < 4) return;
      stats.edges += 1;
      // One dot per FLOW_SPACING px (and never closer than 26 screen px, or a graph zoomed out to
      // fit turns into beads), moving at a speed that grows with the logarithm of the rate.
      const count = Math.max(1, Math.floor(length / Math.max(FLOW_SPACING, 26 / zoom)));
      const spacing = length / count;
      const speed = 22 + 18 * Math.log10(1 + rate);
      const shift = (seconds * speed) % spacing;
      // The edge's error share of its dots, evenly spread and at least one when any request
      // fails (a 2 % error rate on a short edge would otherwise round to none).
      const errorShare = edge.data("errorShare") ?? 0;
      const errors = errorShare > 0 ? Math.max(1, Math.round(count * errorShare)) : 0;
      // The edge's label stays readable: no dot is drawn over it.
      const label = edge.data("label") ? edge.boundingBox({ includeNodes: false, includeEdges: false, includeLabels: true }) : null;
      const onLabel = (q) => label && q.x > label.x1 - radius && q.x < label.x2 + radius && q.y > label.y1 - radius && q.y < label.y2 + radius;
      for (let k = 0; k < count; k += 1) {
        const p = pointAt(path, k * spacing + shift);
        if (onLabel(p)) continue;
        const error = Math.floor(((k + 1) * errors) / count) > Math.floor((k * errors) / count);
        if (error) {
          g.fillStyle = this.palette.failing;
          g.strokeStyle = this.palette.text;
          g.lineWidth = 1;
          g.fillRect(p.x - radius - 0.6, p.y - radius - 0.6, 2 * radius + 1.2, 2 * radius + 1.2);
          g.strokeRect(p.x - radius - 0.6, p.y - radius - 0.6, 2 * radius + 1.2, 2 * radius + 1.2);
          stats.errorDots += 1;
        } else {
          g.fillStyle = this.palette.flow;
          g.beginPath();
          g.arc(p.x, p.y, radius, 0, 2 * Math.PI);
          g.fill();
        }
        stats.dots += 1;
      }
    });
    this.lastFlow = stats;
  }

  /**
   * Apply find/hide: `hide(group, id)` true removes the element from view (a hidden node hides
   * its edges); `find(group, id)` true highlights it and dims the rest. Either may be null.
   * Returns `{found, hidden}` counts.
   */
  applyFilters(find, hide) {
    let found = 0;
    let hidden = 0;
    let hiddenNodes = 0;
    if (!find && !hide && !this.filtered) return { found, hidden, hiddenNodes, hiddenEdges: 0 };
    this.filtered = Boolean(find || hide);
    this.cy.batch(() => {
      this.cy.elements(".dim, .found, .filtered").removeClass("dim found filtered");
      if (hide) {
        this.cy.elements().forEach((el) => {
          if (el.isNode() && el.data("group")) return;
          if (hide(el.isNode() ? "nodes" : "edges", el.id())) {
            el.addClass("filtered");
            hidden += 1;
            if (el.isNode()) hiddenNodes += 1;
          }
        });
      }
      if (find) {
        this.cy.elements().forEach((el) => {
          if (el.isNode() && el.data("group")) return;
          if (find(el.isNode() ? "nodes" : "edges", el.id())) { el.addClass("found"); found += 1; } else el.addClass("dim");
        });
      }
    });
    return { found, hidden, hiddenNodes, hiddenEdges: hidden - hiddenNodes };
  }

  fit() {
    this.cy.fit(this.cy.elements(":visible"), 30);
  }

  select(group, id) {
    this.cy.elements(":selected").unselect();
    if (group) this.cy.getElementById(id).select();
  }

  /** Counts of what is drawn (group nodes excluded), for the summary line. */
  counts() {
    return { nodes: this.cy.nodes().filter((n) => !n.data("group")).length, edges: this.cy.edges().length };
  }

  /**
   * How many edge labels Cytoscape leaves undrawn at the current zoom, so the page can say so.
   * Its rule (eleTextBiggerThanMin): the font size times the zoom's texture level
   * (2^ceil(log2(zoom × pixel ratio))) below `min-zoomed-font-size`.
   */
  undrawnEdgeLabels() {
    const scale = 2 ** Math.ceil(Math.log2(this.cy.zoom() * this.pixelRatio));
    if (EDGE_FONT_PX * scale >= (this.large ? 10 : MIN_EDGE_LABEL_PX)) return 0;
    return this.cy.edges(":visible").filter((e) => Boolean(e.data("label"))).length;
  }
}
