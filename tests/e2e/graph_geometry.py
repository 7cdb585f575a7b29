"""What the graph page draws, measured in the page: overlaps of boxes, labels and edges.

``measure(page)`` runs ``graph_geometry.js`` against ``window.meshuiGraph.cy`` and returns lists
of the faults it finds, each naming the elements by their labels, so a failing assert reads as what an
operator would see ("cart v1 label on notifications"). Used by the graph-layout browser tests and
by the figures in docs/decisions/0024-graph-layout.md.

Boxes are Cytoscape's model-space bounding boxes; a drawing is shrunk by ``SLACK`` pixels before
it is tested, so that shapes merely touching (an arrowhead on its target's border) do not count.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

GEOMETRY_JS = (Path(__file__).parent / "graph_geometry.js").read_text()


def measure(page: Page) -> dict:
    """The faults of the graph as drawn now (see GEOMETRY_JS): lists of strings and counts."""
    return page.evaluate(GEOMETRY_JS)
