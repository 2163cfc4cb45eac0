"""Figures wlnet returns, and drawn nets: :class:`NetFigure` and :func:`net_graphic`.

Every figure wlnet returns (``Information(net, "SummaryGraphic")``, ``results["LossEvolutionPlot"]``)
is a :class:`NetFigure`: a ``matplotlib.figure.Figure`` that Jupyter shows inline with no
``%matplotlib`` magic (it has ``_repr_svg_`` and ``_repr_png_``), that gives its SVG text
(``figure.svg()``) and PNG bytes (``figure.png()``) from Python, and whose ``savefig`` works as
for any figure. Figures are built without pyplot, so making one changes no global state.

This module imports matplotlib and networkx, so :mod:`wlnet.display` and the verbs import it only
when a figure is asked for; ``import wlnet`` does not.

A drawn net reads left to right (input ports, layers in topological generations, output ports),
or top to bottom when it has more than :data:`MAX_COLUMNS` generations, so that a 20-layer chain
stays readable. Each layer is a box with its position or name and its type; each edge may carry
the type of the array it carries (``full=True``, Wolfram's "FullSummaryGraphic").
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import matplotlib
import networkx as nx
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .errors import shortened
from .types import VARYING, TensorT

__all__ = ["MAX_COLUMNS", "NetFigure", "edge_text", "loss_plot", "net_graphic"]

MAX_COLUMNS = 8  # generations drawn left to right; more are drawn top to bottom


class NetFigure(Figure):
    """A matplotlib Figure that shows itself: inline in Jupyter (SVG, or PNG), as SVG text from Python.

    ``figure.svg()`` is the figure as an SVG document (text is kept as text, so it can be
    searched and scales with the page), ``figure.png(dpi)`` as PNG bytes; ``figure.savefig(path)``
    works as for any Figure.

    >>> figure = NetFigure(figsize=(1, 1))
    >>> figure.svg().lstrip().startswith("<?xml") and "</svg>" in figure.svg()
    True
    >>> figure.png()[:4]
    b'\\x89PNG'
    """

    def svg(self) -> str:
        """The figure as an SVG document (text as ``<text>`` elements; no date, stable ids)."""
        buffer = io.StringIO()
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "wlnet"}):
            self.savefig(buffer, format="svg", metadata={"Date": None})
        return buffer.getvalue()

    def png(self, dpi: float | None = None) -> bytes:
        """The figure as PNG bytes, at ``dpi`` (the figure's own by default)."""
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=dpi or self.dpi)
        return buffer.getvalue()

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_png_(self) -> bytes:
        return self.png()


def loss_plot(round_losses: list[float], validation_losses: list[float], size=(6.0, 3.5)) -> NetFigure:
    """Training (and validation) loss against round, on a log scale when every loss is positive."""
    with matplotlib.rc_context({"font.size": 10 if size[0] >= 5 else 8}):
        figure = NetFigure(figsize=size)
        axes = figure.add_subplot()
        marker = "o" if len(round_losses) <= 30 else ""  # a few rounds are points, many a line
        axes.plot(range(1, len(round_losses) + 1), round_losses, label="training loss", marker=marker, markersize=3)
        if validation_losses:
            axes.plot(range(1, len(validation_losses) + 1), validation_losses, label="validation loss",
                      marker=marker, markersize=3)
        losses = [*round_losses, *validation_losses]
        if losses and min(losses) > 0:
            axes.set_yscale("log")
            if max(losses) < 10 * min(losses):
                _plain_ticks(axes, min(losses), max(losses))
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("round")
        axes.set_ylabel("loss")
        axes.grid(alpha=0.3)
        if round_losses:
            axes.legend(frameon=False)
        figure.tight_layout()
    return figure


def _plain_ticks(axes, low: float, high: float) -> None:
    """Within one decade a log axis places linear ticks and writes them "5.244×10⁻¹"; write them
    as plain numbers, with the digits that tell them apart."""
    spread = (high - low) / high
    digits = 3 if spread == 0 else max(3, 2 + math.ceil(-math.log10(spread)))
    plain = FuncFormatter(lambda value, _: f"{value:.{digits}g}")
    axes.yaxis.set_major_formatter(plain)
    axes.yaxis.set_minor_formatter(plain)


# -- drawn nets ---------------------------------------------------------------------------------

FONT = 8.5  # points
EDGE_FONT = 7.0
SLACK = 1.1  # text is kept as text in SVG: room for a browser font wider than DejaVu Sans
PAD = 0.12  # inches of padding inside a box
MARGIN = 0.12
MAX_LABEL = 26  # characters of a name or type shown in a box

_COLORS = {  # layer type -> (fill, edge)
    "port": ("#ffffff", "#b5b5b5"),
    "LinearLayer": ("#e4edf8", "#7c9ccb"),
    "ParametricRampLayer": ("#fbe8d5", "#d49a5a"),
    "ElementwiseLayer": ("#fdf3d3", "#c9a845"),
    "FlattenLayer": ("#e6f2df", "#86b06a"),
    "ConvolutionLayer": ("#dff1f3", "#5aa6b0"),
    "PoolingLayer": ("#e8f0fa", "#6f93c6"),
    "AggregationLayer": ("#f3e6f2", "#b07aaa"),
    "NetChain": ("#eeeeee", "#9a9a9a"),
    "NetGraph": ("#eeeeee", "#9a9a9a"),
}
_OTHER = ("#efedf6", "#9a8fc0")


@dataclass
class _Node:
    title: str  # a layer's position or name, or a port's name
    detail: str  # a layer's type, or a port's coder ("" for none)
    kind: str  # "port", or the layer's type
    generation: int = 0
    place: float = 0.0  # order within the generation
    center: tuple[float, float] = (0.0, 0.0)  # inches
    size: tuple[float, float] = (0.0, 0.0)


@dataclass
class _Drawing:
    nodes: dict[tuple, _Node]
    edges: list[tuple[tuple, tuple, str]]  # (source node, destination node, label)
    vertical: bool = False
    labels: list[tuple[float, float, str, str]] = field(default_factory=list)  # x, y, text, alignment


def _width(text: str, size: float = FONT, bold: bool = False) -> float:
    """The width of ``text`` in inches, as matplotlib lays it out, with some slack."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    font = FontProperties(size=size, weight="bold" if bold else "normal")
    width, _, _ = text_to_path.get_text_width_height_descent(text, font, ismath=False)
    return width / 72 * SLACK


def edge_text(t: TensorT) -> str:
    """A type as a drawn edge's label: its dims "(3)", "(2×3)", "(n×3)" (n: a varying length, ?:
    not known yet), "real" for a number, "any" when the rank is not known, "(3×…)" when only the
    leading dims are."""
    if t.dims is None:
        return "(" + "\u00d7".join([*map(_dim_text, t.leading), "\u2026"]) + ")" if t.leading else "any"
    if t.dims == ():
        return "real"
    return "(" + "\u00d7".join(map(_dim_text, t.dims)) + ")"


def _dim_text(d) -> str:
    return "n" if d == VARYING else "?" if d is None else str(d)


def _short(text: str) -> str:
    return shortened(text, MAX_LABEL)


def _coder_text(net, port: str) -> str:
    coder = net._coder(port)
    return "" if coder is None else f"{coder.kind} {type(coder).__name__.removeprefix('Net').lower()}"


def _port_label(layer, port: str, names: tuple[str, ...]) -> str:
    """A layer port's name where the layer has several ports on that side, else ""."""
    return port if len(names) > 1 else ""


def _connections(net) -> list[tuple[tuple, tuple, TensorT, str]]:
    """(source node, destination node, type carried, port text) for every connection of ``net``:
    a NetGraph's wiring, or a NetChain's input -> layers in order -> output."""
    children = dict(net._children())
    wiring = getattr(net, "_wiring", None)
    if wiring is None:
        keys = list(children)
        ends = [("in", "Input"), *(("layer", k) for k in keys), ("out", "Output")]
        types = [net._input_types()["Input"], *(children[k]._ports[children[k]._output_names[0]] for k in keys)]
        return [(a, b, t, "") for a, b, t in zip(ends, ends[1:], types)]
    found = []
    for src, dst in wiring.edges:
        if src.layer is None:
            a, t, text = ("in", src.port), net._input_types()[src.port], ""
        else:
            layer = children[src.layer]
            a, t, text = ("layer", src.layer), layer._ports[src.port], _port_label(layer, src.port, layer._output_names)
        if dst.layer is None:
            b = ("out", dst.port)
        else:
            layer = children[dst.layer]
            b, text = ("layer", dst.layer), _port_label(layer, dst.port, layer._input_names) or text
        found.append((a, b, t, text))
    return found


def _nodes(net) -> dict[tuple, _Node]:
    nodes = {("in", name): _Node(name, _coder_text(net, name), "port") for name in net._input_types()}
    for key, layer in net._children():
        nodes[("layer", key)] = _Node(str(key), type(layer).__name__, type(layer).__name__)
    nodes.update({("out", name): _Node(name, _coder_text(net, name), "port") for name in net._output_types()})
    return nodes


def _drawing(net, full: bool) -> _Drawing:
    nodes = _nodes(net)
    edges = []
    for a, b, t, port in _connections(net):
        label = edge_text(t) if full else ""
        label = f"{port}: {label}" if port and label else port or label
        edges.append((a, b, label))
    return _Drawing(nodes, edges)


def _assign_generations(drawing: _Drawing) -> list[list[tuple]]:
    """The nodes by generation (longest path from the inputs), outputs last, each generation
    ordered by the mean place of the nodes that feed it, to keep crossings few."""
    graph = nx.DiGraph()
    graph.add_nodes_from(drawing.nodes)
    graph.add_edges_from((a, b) for a, b, _ in drawing.edges)
    for g, generation in enumerate(nx.topological_generations(graph)):
        for node in generation:
            drawing.nodes[node].generation = g
    last = 1 + max((n.generation for k, n in drawing.nodes.items() if k[0] != "out"), default=0)
    for key, node in drawing.nodes.items():
        if key[0] == "out":
            node.generation = last
    order = list(drawing.nodes)
    generations: list[list[tuple]] = [[] for _ in range(last + 1)]
    for key in order:
        generations[drawing.nodes[key].generation].append(key)
    for g, members in enumerate(generations):
        for i, key in enumerate(members):
            feeders = [drawing.nodes[p].place for p in graph.predecessors(key)]
            drawing.nodes[key].place = sum(feeders) / len(feeders) if g and feeders else float(i)
        members.sort(key=lambda k: (drawing.nodes[k].place, order.index(k)))
        for i, key in enumerate(members):
            drawing.nodes[key].place = float(i)
    return generations


def _size_nodes(drawing: _Drawing) -> None:
    for node in drawing.nodes.values():
        title, detail = _short(node.title), _short(node.detail)
        if drawing.vertical or not detail:
            text = f"{title} \u00b7 {detail}" if detail else title
            node.size = (_width(text) + 2 * PAD, 0.27)
        else:
            node.size = (max(_width(title, bold=True), _width(detail)) + 2 * PAD, 0.46)


def _place(drawing: _Drawing, generations: list[list[tuple]]) -> None:
    """Centers for every node: generations along the main axis, members across it."""
    nodes = drawing.nodes
    along = 0 if not drawing.vertical else 1  # axis index of the main direction
    label_room = max((_width(label, EDGE_FONT) for _, _, label in drawing.edges), default=0.0)
    if drawing.vertical:
        gap, cross_gap = 0.24 if not label_room else 0.3, 0.3
    else:
        gap, cross_gap = max(0.45, label_room + 0.3), 0.25
    position = 0.0
    for members in generations:
        extent = max(nodes[k].size[along] for k in members)
        middle = position + extent / 2
        widths = [nodes[k].size[1 - along] for k in members]
        offset = -(sum(widths) + cross_gap * (len(widths) - 1)) / 2
        for key, width in zip(members, widths):
            cross = offset + width / 2
            offset += width + cross_gap
            nodes[key].center = (middle, -cross) if not drawing.vertical else (cross, -middle)
        position += extent + gap


def _blocker(drawing: _Drawing, a: tuple, b: tuple) -> _Node | None:
    """The node of a generation between a and b that the straight edge a -> b passes through, if any."""
    na, nb = drawing.nodes[a], drawing.nodes[b]
    along = 1 if drawing.vertical else 0
    for node in drawing.nodes.values():
        if na.generation < node.generation < nb.generation:
            crossing = _crossing(na.center, nb.center, node.center[along], along)
            if abs(crossing - node.center[1 - along]) < node.size[1 - along] / 2 + 0.05:
                return node
    return None


def _crossing(start: tuple[float, float], end: tuple[float, float], at: float, along: int) -> float:
    """Where the line start -> end is, across the main axis, at ``at`` along it."""
    fraction = (at - start[along]) / (end[along] - start[along])
    return start[1 - along] + fraction * (end[1 - along] - start[1 - along])


def _bend(drawing: _Drawing, a: tuple, b: tuple) -> float:
    """The arc3 ``rad`` that takes the edge a -> b around the node in its way (0 when none is)."""
    blocker = _blocker(drawing, a, b)
    if blocker is None:
        return 0.0
    along = 1 if drawing.vertical else 0
    start, end = drawing.nodes[a].center, drawing.nodes[b].center
    length = abs(end[along] - start[along])
    rad = min(0.5, max(0.1, (blocker.size[1 - along] / 2 + 0.2) / (length / 2)))
    # arc3 moves the middle by rad/2 * (dy, -dx): towards lower y (horizontal) or lower x
    # (vertical) for rad > 0, so bend away from the side the blocking node's center is on.
    side = blocker.center[1 - along] - _crossing(start, end, blocker.center[along], along)
    return rad if side >= 0 else -rad


def _end_points(drawing: _Drawing, a: tuple, b: tuple) -> tuple[tuple[float, float], tuple[float, float]]:
    (xa, ya), (wa, ha) = drawing.nodes[a].center, drawing.nodes[a].size
    (xb, yb), (wb, hb) = drawing.nodes[b].center, drawing.nodes[b].size
    if drawing.vertical:
        return (xa, ya - ha / 2), (xb, yb + hb / 2)
    return (xa + wa / 2, ya), (xb - wb / 2, yb)


def _bounds(drawing: _Drawing) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of everything drawn, in inches, with the edge labels' estimated extents."""
    xs, ys = [], []
    for node in drawing.nodes.values():
        (x, y), (w, h) = node.center, node.size
        xs += [x - w / 2, x + w / 2]
        ys += [y - h / 2, y + h / 2]
    for x, y, text, align in drawing.labels:
        width = _width(text, EDGE_FONT) + 0.1
        xs += [x, x + width] if align == "left" else [x - width / 2, x + width / 2]
        ys += [y - 0.08, y + 0.08]
    return min(xs) - MARGIN, min(ys) - MARGIN, max(xs) + MARGIN, max(ys) + MARGIN


def _draw_edges(axes, drawing: _Drawing) -> None:
    for a, b, label in drawing.edges:
        start, end = _end_points(drawing, a, b)
        rad = _bend(drawing, a, b)
        axes.add_patch(FancyArrowPatch(
            start, end, arrowstyle="-|>", mutation_scale=8, color="#8a8a8a", linewidth=0.9,
            connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=1, clip_on=False,
        ))
        if label:
            dx, dy = end[0] - start[0], end[1] - start[1]
            x, y = (start[0] + end[0]) / 2 + rad * dy / 2, (start[1] + end[1]) / 2 - rad * dx / 2
            drawing.labels.append((x + 0.06, y, label, "left") if drawing.vertical else (x, y, label, "center"))


def _draw_labels(axes, drawing: _Drawing) -> None:
    for x, y, text, align in drawing.labels:
        axes.text(x, y, text, ha=align, va="center", fontsize=EDGE_FONT, color="#5a5a5a", parse_math=False,
                  clip_on=False, bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none",
                                       "alpha": 0.9})


def _draw_nodes(axes, drawing: _Drawing) -> None:
    for node in drawing.nodes.values():
        (x, y), (w, h) = node.center, node.size
        fill, edge = _COLORS.get(node.kind, _OTHER)
        style = "round,pad=0,rounding_size=0.13" if node.kind == "port" else "round,pad=0,rounding_size=0.05"
        axes.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=style, facecolor=fill,
                                      edgecolor=edge, linewidth=0.9, clip_on=False))
        text = {"ha": "center", "va": "center", "fontsize": FONT, "parse_math": False, "clip_on": False}
        title, detail = _short(node.title), _short(node.detail)
        color = "#555555" if node.kind == "port" else "#1a1a1a"
        if drawing.vertical or not detail:
            line = f"{title} \u00b7 {detail}" if detail else title
            axes.text(x, y, line, color=color, **text)
        else:
            axes.text(x, y + 0.075, title, color=color, fontweight="bold", **text)
            axes.text(x, y - 0.085, detail, color="#444444", **text)


def net_graphic(net, full: bool = False) -> NetFigure:
    """The layers of a NetChain or NetGraph and their connections, as a figure sized to fit.

    Input ports on the left (top), output ports on the right (bottom); a layer's box shows its
    position or name and its type, a port's its name and its NetEncoder/NetDecoder. With
    ``full=True`` each edge is labelled with the type it carries ("length-3 vector"). Layer
    ports are named on edges where a layer has several.
    """
    drawing = _drawing(net, full)
    generations = _assign_generations(drawing)
    drawing.vertical = len(generations) > MAX_COLUMNS
    _size_nodes(drawing)
    _place(drawing, generations)
    figure = NetFigure()
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    _draw_edges(axes, drawing)
    x0, y0, x1, y1 = _bounds(drawing)
    figure.set_size_inches(x1 - x0, y1 - y0)
    axes.set_xlim(x0, x1)
    axes.set_ylim(y0, y1)
    _draw_labels(axes, drawing)
    _draw_nodes(axes, drawing)
    return figure
