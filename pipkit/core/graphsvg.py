"""The dependency graph as a picture: a layered layout and its SVG, for ``pipkit ui``.

:func:`graph_of` turns installed distributions into :class:`Node` and :class:`Edge` values
(``pipkit tree``'s edges, from :mod:`pipkit.core.graph`, labelled with their specifiers);
:func:`layout` layers them (packages nothing requires on top, each package one layer below
the deepest package requiring it; cycles are cut after ``len(nodes)`` rounds) and orders
each layer by its parents' mean position; :func:`render_svg` draws the result.
The SVG carries what the page's script needs as data attributes (``data-key`` on nodes,
``data-from``/``data-to`` on edges) and what a person hovers as ``<title>``; every string
in it is escaped, since names, versions and summaries come from package metadata.
:func:`histogram_svg` draws the demo's latency histogram.

Pure: no I/O. Imports the standard library and pipkit.core.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipkit.core.model import InstalledDist

#: Node states the page colours (CSS classes ``state-<state>``).
STATES = ("ok", "extra", "changed", "unlocked")

_ROW_HEIGHT = 84
_BOX_HEIGHT = 30
_GAP = 14
_MARGIN = 20
_MAX_ROW = 1120  # px: a wider layer wraps onto more rows (fits a 1280 px window)
_CHAR = 7.2  # px per character of the 12px monospace-ish label


@dataclass(frozen=True)
class Node:
    key: str  # normalized name
    name: str  # as the metadata spells it
    version: str
    state: str = "ok"  # one of STATES
    summary: str = ""


@dataclass(frozen=True)
class Edge:
    source: str  # the requiring package's key
    target: str  # the required package's key
    label: str  # "gevent requires greenlet>=3.0"


@dataclass(frozen=True)
class Box:
    node: Node
    layer: int
    x: float
    y: float
    width: float


def graph_of(
    dists: Sequence[InstalledDist],
    environment: Mapping[str, str],
    states: Mapping[str, str],
    summaries: Mapping[str, str],
) -> tuple[list[Node], list[Edge]]:
    """Nodes for ``dists`` (the first of two copies wins, as for imports) and the edges
    between installed packages, exactly ``pipkit tree``'s (:func:`pipkit.core.graph.build`:
    markers for the target, requested extras followed); missing requirements are left out
    (the drift table and ``pipkit check`` name them)."""
    from pipkit.core import graph

    built = graph.build(dists, environment)
    nodes = [
        Node(key, d.raw_name, d.version, states.get(key, "ok"), summaries.get(key, ""))
        for key, d in sorted((str(k), v) for k, v in built.dists.items())
    ]
    edges: dict[tuple[str, str], Edge] = {}
    for parent, found in sorted(built.edges.items()):
        raw = built.dists[parent].raw_name
        for edge in found:
            pair = (str(parent), str(edge.child))
            if edge.status == "missing" or pair[0] == pair[1] or pair in edges:
                continue
            spec = " (any version)" if edge.required == graph.ANY else edge.required
            label = f"{raw} requires {edge.child_name}{spec}"
            if edge.extra:
                label += f" (for its extra {edge.extra})"
            if edge.status == "conflict":
                label += f": {edge.installed} installed, CONFLICT"
            edges[pair] = Edge(pair[0], pair[1], label)
    return nodes, list(edges.values())


def layers(nodes: Sequence[Node], edges: Sequence[Edge]) -> dict[str, int]:
    """Each node's layer: 0 for what nothing requires, else one below its deepest parent."""
    layer = {node.key: 0 for node in nodes}
    limit = max(len(nodes) - 1, 0)
    for _ in range(len(nodes)):  # longest path, bounded: a cycle stops growing at `limit`
        moved = False
        for edge in edges:
            wanted = min(layer[edge.source] + 1, limit)
            if layer[edge.target] < wanted:
                layer[edge.target] = wanted
                moved = True
        if not moved:
            break
    return layer


def layout(nodes: Sequence[Node], edges: Sequence[Edge]) -> list[Box]:
    """Boxes for every node: layers top to bottom, each ordered by its parents' mean
    position (one sweep), wrapped onto more rows when wider than ``_MAX_ROW``."""
    layer = layers(nodes, edges)
    by_layer: dict[int, list[Node]] = {}
    for node in sorted(nodes, key=lambda n: n.key):
        by_layer.setdefault(layer[node.key], []).append(node)
    parents: dict[str, list[str]] = {}
    for edge in edges:
        parents.setdefault(edge.target, []).append(edge.source)
    position: dict[str, float] = {}
    boxes: list[Box] = []
    row = 0
    for depth in sorted(by_layer):
        members = by_layer[depth]
        if depth:

            def centre(node: Node) -> tuple[float, str]:
                known = [position[p] for p in parents.get(node.key, ()) if p in position]
                return (sum(known) / len(known) if known else 1e9, node.key)

            members = sorted(members, key=centre)
        widths = [_width(node) for node in members]
        start = 0
        while start < len(members):
            end, used = start, 0.0
            while end < len(members) and (end == start or used + widths[end] <= _MAX_ROW):
                used += widths[end] + _GAP
                end += 1
            x = _MARGIN + max(0.0, (_MAX_ROW - used) / 2)
            y = _MARGIN + row * _ROW_HEIGHT
            for node, width in zip(members[start:end], widths[start:end], strict=True):
                boxes.append(Box(node, depth, x, y, width))
                position[node.key] = x + width / 2
                x += width + _GAP
            row += 1
            start = end
    return boxes


def _width(node: Node) -> float:
    return max(64.0, len(f"{node.name} {node.version}") * _CHAR + 18)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def render_svg(nodes: Sequence[Node], edges: Sequence[Edge]) -> str:
    """The graph as one ``<svg>`` document (no script, no style: the page's CSS colours it
    by class)."""
    boxes = layout(nodes, edges)
    if not boxes:
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="300" height="40" '
            'viewBox="0 0 300 40"><text x="10" y="24">no packages installed</text></svg>\n'
        )
    where = {box.node.key: box for box in boxes}
    width = max(box.x + box.width for box in boxes) + _MARGIN
    height = max(box.y for box in boxes) + _BOX_HEIGHT + _MARGIN
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="dependency graph of {len(boxes)} packages">',
        '<g class="edges">',
    ]
    for edge in edges:
        a, b = where[edge.source], where[edge.target]
        x1, y1 = a.x + a.width / 2, a.y + _BOX_HEIGHT
        x2, y2 = b.x + b.width / 2, b.y
        if b.y <= a.y:  # drawn upwards (a cycle): leave from the top, enter at the bottom
            y1, y2 = a.y, b.y + _BOX_HEIGHT
        bend = (y2 - y1) / 2
        out.append(
            f'<path class="edge" data-from="{_esc(edge.source)}" data-to="{_esc(edge.target)}" '
            f'd="M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + bend:.1f} {x2:.1f},{y2 - bend:.1f} '
            f'{x2:.1f},{y2:.1f}"><title>{_esc(edge.label)}</title></path>'
        )
    out.append("</g>")
    out.append('<g class="nodes">')
    for box in boxes:
        node = box.node
        tip = f"{node.name} {node.version}" + (f": {node.summary}" if node.summary else "")
        if node.state != "ok":
            tip += f" ({node.state})"
        out.append(
            f'<g class="node state-{_esc(node.state)}" data-key="{_esc(node.key)}" '
            f'transform="translate({box.x:.1f},{box.y:.1f})"><title>{_esc(tip)}</title>'
            f'<rect width="{box.width:.1f}" height="{_BOX_HEIGHT}" rx="6"/>'
            f'<text x="{box.width / 2:.1f}" y="19" text-anchor="middle">{_esc(node.name)} '
            f'<tspan class="ver">{_esc(node.version)}</tspan></text></g>'
        )
    out.append("</g></svg>\n")
    return "\n".join(out)


def histogram_svg(series: Mapping[str, Sequence[float]], *, buckets: int = 24) -> str:
    """Latency histograms (milliseconds), one bar series per server, on shared log-spaced
    buckets; an empty ``series`` draws a note instead."""
    values = [v for vs in series.values() for v in vs if v > 0]
    width, height, left, bottom = 640, 220, 44, 30
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="histogram" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="latency histogram">'
    )
    if not values:
        return head + '<text x="10" y="24">no latencies measured</text></svg>\n'
    import math

    low, high = math.log10(min(values)), math.log10(max(values))
    if high - low < 1e-9:
        high = low + 1
    step = (high - low) / buckets
    counts: dict[str, list[int]] = {}
    for name, vs in series.items():
        row = [0] * buckets
        for v in vs:
            if v > 0:
                row[min(buckets - 1, int((math.log10(v) - low) / step))] += 1
        counts[name] = row
    top = max(max(row) for row in counts.values()) or 1
    plot_w, plot_h = width - left - 10, height - bottom - 10
    bar_w = plot_w / buckets / max(1, len(counts))
    out = [head, f'<g class="axis"><line x1="{left}" y1="{10 + plot_h}" x2="{width - 10}" '
           f'y2="{10 + plot_h}"/>']  # fmt: skip
    for i in range(0, buckets + 1, 6):
        x = left + i * plot_w / buckets
        label = f"{10 ** (low + i * step):.3g} ms"
        anchor = "end" if i == buckets else "middle"
        out.append(
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="{anchor}">{_esc(label)}</text>'
        )
    out.append(f'<text x="{left - 6}" y="18" text-anchor="end">{top}</text></g>')
    for s, (name, row) in enumerate(sorted(counts.items())):
        out.append(f'<g class="series series-{s}" data-server="{_esc(name)}">')
        # The legend: a swatch and the server's name, top right.
        out.append(
            f'<rect class="swatch" x="{width - 130}" y="{12 + s * 16}" width="10" height="10"/>'
            f'<text x="{width - 114}" y="{21 + s * 16}">{_esc(name)}</text>'
        )
        for i, count in enumerate(row):
            if not count:
                continue
            h = count / top * plot_h
            x = left + i * plot_w / buckets + s * bar_w
            lo, hi = 10 ** (low + i * step), 10 ** (low + (i + 1) * step)
            tip = f"{name}: {count} requests {lo:.3g}-{hi:.3g} ms"
            out.append(
                f'<rect x="{x:.1f}" y="{10 + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}"><title>{_esc(tip)}</title></rect>'
            )
        out.append("</g>")
    out.append("</svg>\n")
    return "\n".join(out)
