"""The dependency graph's layout and SVG (pure): layers, edges, escaping, cycles."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from packaging.utils import canonicalize_name

from pipkit.core.graphsvg import Edge, Node, graph_of, histogram_svg, layers, layout, render_svg
from pipkit.core.model import InstalledDist

SVG = "{http://www.w3.org/2000/svg}"
ENV = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}


def dist(name: str, version: str, *requires: str) -> InstalledDist:
    return InstalledDist(
        name=canonicalize_name(name),
        raw_name=name,
        version=version,
        location="/site",
        metadata_dir=f"/site/{name}-{version}.dist-info",
        requires=requires,
    )


def test_graph_of_keeps_installed_edges_whose_markers_hold() -> None:
    dists = [
        dist(
            "App", "1.0", "lib>=2", "win-only; sys_platform == 'win32'", "gone", "opt; extra == 'x'"
        ),
        dist("lib", "2.1", "base"),
        dist("base", "0.1"),
        dist("win-only", "1.0"),
        dist("opt", "1.0"),
    ]
    nodes, edges = graph_of(dists, ENV, {"lib": "changed"}, {"app": "the app"})
    assert [n.key for n in nodes] == ["app", "base", "lib", "opt", "win-only"]
    assert {(e.source, e.target, e.label) for e in edges} == {
        ("app", "lib", "App requires lib>=2"),
        ("lib", "base", "lib requires base (any version)"),
    }
    by_key = {n.key: n for n in nodes}
    assert by_key["lib"].state == "changed" and by_key["app"].summary == "the app"


def test_layers_put_what_nothing_requires_on_top_and_children_below_their_deepest_parent() -> None:
    nodes = [Node(k, k, "1") for k in ("a", "b", "c", "d")]
    edges = [Edge("a", "b", ""), Edge("b", "c", ""), Edge("a", "c", ""), Edge("d", "c", "")]
    assert layers(nodes, edges) == {"a": 0, "d": 0, "b": 1, "c": 2}
    boxes = {box.node.key: box for box in layout(nodes, edges)}
    assert boxes["a"].y == boxes["d"].y < boxes["b"].y < boxes["c"].y


def test_a_cycle_is_drawn_and_bounded() -> None:
    nodes = [Node(k, k, "1") for k in ("x", "y")]
    edges = [Edge("x", "y", ""), Edge("y", "x", "")]
    assert max(layers(nodes, edges).values()) <= 1
    root = ET.fromstring(render_svg(nodes, edges))
    assert len(root.findall(f".//{SVG}g[@data-key]")) == 2


def test_wide_layers_wrap() -> None:
    nodes = [Node(f"package-number-{i}", f"package-number-{i}", "1.0.0") for i in range(40)]
    boxes = layout(nodes, [])
    assert len({box.y for box in boxes}) > 1
    assert max(box.x + box.width for box in boxes) < 1200


def test_svg_escapes_metadata_and_labels_edges() -> None:
    evil = "<script>alert('x')</script>&\""
    nodes = [Node("a", "a", "1<2", "extra", evil), Node("b", "b", "2")]
    svg = render_svg(nodes, [Edge("a", "b", "a requires b>=1")])
    assert "<script>" not in svg
    root = ET.fromstring(svg)  # well-formed XML whatever the metadata says
    node = root.find(f".//{SVG}g[@data-key='a']")
    assert node is not None and node.get("class") == "node state-extra"
    title = node.find(f"{SVG}title")
    assert title is not None and title.text == f"a 1<2: {evil} (extra)"
    edge = root.find(f".//{SVG}path[@data-from='a'][@data-to='b']/{SVG}title")
    assert edge is not None and edge.text == "a requires b>=1"


def test_empty_graph_and_histogram() -> None:
    assert "no packages installed" in render_svg([], [])
    assert "no latencies measured" in histogram_svg({})
    root = ET.fromstring(histogram_svg({"threaded": [1.0, 2.0, 2.0, 40.0], "coroutine": [3.0]}))
    bars = {
        g.get("data-server"): sum(
            int(r.find(f"{SVG}title").text.split()[1])  # type: ignore[union-attr]
            for r in g.findall(f"{SVG}rect[{SVG}title]")
        )
        for g in root.findall(f"{SVG}g[@data-server]")
    }
    assert bars == {"threaded": 4, "coroutine": 1}
