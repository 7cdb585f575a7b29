// Force layout off the main thread: headless Cytoscape.js + fCoSE in a Web Worker.
// In: {vendorUrl, nodes: [{id, parent}], edges: [{id, source, target}]}.
// Out: {positions: {id: [x, y]}} or {error: message}. The worker handles one message and is
// terminated by the page (a newer layout simply ignores an older answer).
/* global importScripts, cytoscape, cytoscapeFcose */
self.onmessage = (event) => {
  const { vendorUrl, nodes, edges } = event.data;
  try {
    importScripts(`${vendorUrl}cytoscape.min.js`, `${vendorUrl}layout-base.js`, `${vendorUrl}cose-base.js`, `${vendorUrl}cytoscape-fcose.js`);
    cytoscape.use(cytoscapeFcose);
    const cy = cytoscape({
      headless: true,
      styleEnabled: true,
      style: [{ selector: "node", style: { width: 30, height: 30 } }],
      elements: [
        ...nodes.map((n) => ({ group: "nodes", data: n.parent ? { id: n.id, parent: n.parent } : { id: n.id } })),
        ...edges.map((e) => ({ group: "edges", data: e })),
      ],
    });
    // "draft" is fCoSE's spectral stage alone: 1.6 s for 2,000 nodes / 10,000 edges where the
    // force-directed refinement ("default") took 50–80 s (docs/decisions/0007-graph-page.md).
    const quality = nodes.length > 1000 ? "draft" : "default";
    cy.layout({ name: "fcose", quality, randomize: true, animate: false, fit: false, nodeRepulsion: 6500, idealEdgeLength: 90, nodeSeparation: 90 }).run();
    // The spectral stage returns coordinates on its own scale: spread them so that each node
    // gets about SPACE × SPACE of room and nodes do not pile up on one another.
    const SPACE = 90;
    const bb = cy.nodes().boundingBox({ includeLabels: false });
    const scale = Math.max(1, Math.sqrt((nodes.length * SPACE * SPACE) / Math.max(1, bb.w * bb.h)));
    const positions = {};
    cy.nodes().forEach((n) => { const p = n.position(); positions[n.id()] = [p.x * scale, p.y * scale]; });
    self.postMessage({ positions });
  } catch (err) {
    self.postMessage({ error: String(err) });
  }
};
