"""Focus: the neighbourhood of one node — upstream, downstream or both, up to a few hops.

Pure: works on node ids and ``(source, target)`` pairs, so the API, the live graph and a script
get the same answer from the same document. ``networkx`` does the breadth-first searches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import networkx as nx

Direction = Literal["in", "out", "both"]
DIRECTIONS: tuple[Direction, ...] = ("in", "out", "both")
MAX_HOPS = 3


@dataclass(frozen=True, slots=True)
class Neighbourhood:
    """What a focus keeps: node ids (the focus included) and the positions of the kept edges."""

    nodes: frozenset[str]
    edges: tuple[int, ...]


def neighbourhood(
    edges: Sequence[tuple[str, str]], focus: str, *, hops: int = 1, direction: Direction = "both"
) -> Neighbourhood:
    """The nodes within ``hops`` calls of ``focus`` and the edges that lead there.

    ``direction`` ``out``: what ``focus`` calls, and what those call, up to ``hops`` deep; ``in``:
    who calls it, and who calls those; ``both``: the union of the two (not every node around a
    caller — a sibling callee of a caller is not in the focus). An edge is kept when it is one of
    those calls: it starts ``< hops`` calls downstream of ``focus`` (``out``), or ends ``< hops``
    calls upstream of it (``in``). Raises ``ValueError`` for ``hops`` outside 1..``MAX_HOPS`` or
    an unknown direction; a ``focus`` no edge touches keeps only itself.
    """
    if not 1 <= hops <= MAX_HOPS:
        raise ValueError(f"hops must be 1 to {MAX_HOPS}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
    graph = nx.MultiDiGraph()
    graph.add_node(focus)
    graph.add_edges_from((source, target, position) for position, (source, target) in enumerate(edges))
    downstream: dict[str, int] = {}
    upstream: dict[str, int] = {}
    if direction in ("out", "both"):
        downstream = nx.single_source_shortest_path_length(graph, focus, cutoff=hops)
    if direction in ("in", "both"):
        upstream = nx.single_source_shortest_path_length(graph.reverse(copy=False), focus, cutoff=hops)
    kept = []
    for position, (source, target) in enumerate(edges):
        if downstream.get(source, hops) < hops or upstream.get(target, hops) < hops:
            kept.append(position)
    return Neighbourhood(frozenset(downstream) | frozenset(upstream) | {focus}, tuple(kept))
