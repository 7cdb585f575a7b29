// What the graph page draws, measured in the page (tests/e2e/graph_geometry.py runs it).
// One expression: a function of no arguments returning the faults found.
() => {
  const cy = window.meshuiGraph.cy;
  const SLACK = 2;
  const name = (el) => (el.data('label') || el.id()).split('\n')[0].replace(/^[▲✖○] /, '');
  const shrink = (b, by = SLACK) => ({ x1: b.x1 + by, y1: b.y1 + by, x2: b.x2 - by, y2: b.y2 - by });
  const meets = (a, b) => a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2;
  const real = (b) => Number.isFinite(b.w) && b.w > 0 && b.h > 0;
  const visible = cy.nodes(':visible');
  const nodes = visible.filter((n) => !n.data('group'));
  const groups = visible.filter((n) => n.data('group'));
  const body = (n) => shrink(n.boundingBox({ includeLabels: false, includeOverlays: false }));
  const label = (el) => el.boundingBox({ includeNodes: false, includeEdges: false, includeLabels: true, includeOverlays: false });
  const boxOf = (g) => shrink(g.boundingBox({ includeLabels: true, includeOverlays: false }));
  const related = (a, b) => a.same(b) || a.ancestors().contains(b) || b.ancestors().contains(a);

  const boxOverlaps = [];
  groups.forEach((g, i) => {
    groups.slice(i + 1).forEach((h) => { if (!related(g, h) && meets(boxOf(g), boxOf(h))) boxOverlaps.push(`${name(g)} box / ${name(h)} box`); });
    nodes.forEach((n) => {
      if (related(g, n)) return;
      if (meets(boxOf(g), body(n)) || meets(boxOf(g), shrink(label(n)))) boxOverlaps.push(`${name(g)} box / ${name(n)}`);
    });
  });

  const labelCollisions = [];
  const labelled = visible.filter((n) => n.data('label') && real(label(n)));
  labelled.forEach((a, i) => {
    const la = shrink(label(a));
    nodes.forEach((n) => { if (!n.same(a) && !(a.data('group') && related(a, n)) && meets(la, body(n))) labelCollisions.push(`${name(a)} label on ${name(n)}`); });
    labelled.slice(i + 1).forEach((b) => {
      if (meets(la, shrink(label(b)))) labelCollisions.push(`${name(a)} label on ${name(b)} label`);
    });
  });

  // The drawn path of an edge, sampled: Cytoscape's own points (rscratch.allpts, internal but the
  // only account of what it drew) — quadratic curves for bezier edges, straight legs otherwise.
  const pathOf = (e) => {
    const rs = e._private.rscratch;
    const p = rs.allpts || [];
    const out = [];
    if (rs.edgeType === 'bezier' || rs.edgeType === 'multibezier' || rs.edgeType === 'compound' || rs.edgeType === 'self') {
      for (let i = 0; i + 5 < p.length; i += 4) {
        for (let t = 0; t <= 1.0001; t += 0.05) {
          const u = 1 - t;
          out.push({ x: u * u * p[i] + 2 * u * t * p[i + 2] + t * t * p[i + 4], y: u * u * p[i + 1] + 2 * u * t * p[i + 3] + t * t * p[i + 5] });
        }
      }
    } else {
      for (let i = 0; i + 3 < p.length; i += 2) {
        for (let t = 0; t <= 1.0001; t += 0.05) out.push({ x: p[i] + t * (p[i + 2] - p[i]), y: p[i + 1] + t * (p[i + 3] - p[i + 1]) });
      }
    }
    return out;
  };
  const inside = (pt, b) => pt.x > b.x1 && pt.x < b.x2 && pt.y > b.y1 && pt.y < b.y2;
  const edges = cy.edges(':visible');
  const edgesThroughNodes = [];
  const edgeName = (e) => `${name(e.source())} → ${name(e.target())}`;
  edges.forEach((e) => {
    const path = pathOf(e);
    nodes.forEach((n) => {
      if (n.same(e.source()) || n.same(e.target())) return;
      const b = body(n);
      const l = shrink(label(n));
      if (path.some((pt) => inside(pt, b) || (real(l) && inside(pt, l)))) edgesThroughNodes.push(`${edgeName(e)} across ${name(n)}`);
    });
  });

  const zoom = cy.zoom();
  const edgeLabelCollisions = [];
  let drawnEdgeLabels = 0;
  let undrawnEdgeLabels = 0;
  const labelledEdges = edges.filter((e) => e.data('label'));
  labelledEdges.forEach((e, i) => {
    // Cytoscape's rule (eleTextBiggerThanMin): the font at the texture level of the zoom.
    const scale = Math.pow(2, Math.ceil(Math.log2(zoom * window.devicePixelRatio)));
    if (parseFloat(e.style('font-size')) * scale < parseFloat(e.style('min-zoomed-font-size'))) { undrawnEdgeLabels += 1; return; }
    drawnEdgeLabels += 1;
    const le = shrink(label(e), 1);
    nodes.forEach((n) => {
      if (meets(le, body(n))) edgeLabelCollisions.push(`${edgeName(e)} label on ${name(n)}`);
      else if (real(label(n)) && meets(le, shrink(label(n), 1))) edgeLabelCollisions.push(`${edgeName(e)} label on ${name(n)} label`);
    });
    labelledEdges.slice(i + 1).forEach((f) => {
      if (meets(le, shrink(label(f), 1))) edgeLabelCollisions.push(`${edgeName(e)} label on ${edgeName(f)} label`);
    });
  });
  return { boxOverlaps, labelCollisions, edgesThroughNodes, edgeLabelCollisions, drawnEdgeLabels, undrawnEdgeLabels,
    labelledEdges: labelledEdges.length, nodes: nodes.length, groups: groups.length, zoom };
}
