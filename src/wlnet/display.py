"""How nets look in a notebook: summary panels as HTML, in the manner of Wolfram's summary boxes.

``_repr_html_`` of layers and containers (:class:`wlnet.layers.base.Layer`), of NetEncoder and
NetDecoder, of loss layers and of NetTrainResults come here. A panel is a light bordered box:
the name (and "uninitialized" while arrays are missing), then grey-labelled rows: a layer's
parameters, arrays (dims, whether initialized, learning-rate multipliers that are not 1) and
ports (types, with their encoders and decoders); a container's ports and layers (position or
name, type, output type), a summary of its arrays and its drawn layer graph (inline SVG); a
training run's key figures and loss plot (inline SVG).

Panels are self-contained: inline styles, no scripts, no external resources; every text is
escaped with ``html.escape``. Nothing here needs torch: a net is read through its protocol
(``_input_types``, ``_output_types``, ``_children``, ``_coder``, ...), and the caller passes the
net's :func:`wlnet.lower.array_slots` and :func:`wlnet.lower.array_multipliers`. Figures come from
:mod:`wlnet.graphics`, imported only when a panel draws one, so ``import wlnet`` does not load
matplotlib.

>>> from wlnet import NetDecoder
>>> "Boolean" in NetDecoder("Boolean")._repr_html_()
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from .errors import NetSpecificationError, shortened
from .symbols import Automatic
from .types import TensorT, describe

__all__ = [
    "GRAPH_LIMIT", "coder_html", "loss_layer_html", "net_html", "results_html", "summary_graphic", "type_text",
]

GRAPH_LIMIT = 60  # a container panel draws its layer graph up to this many layers

_FONT = "font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:12px;line-height:1.35;"
_PANEL = (
    "display:inline-block;vertical-align:top;box-sizing:border-box;max-width:100%;overflow-x:auto;"
    "border:1px solid #d3d3d3;border-radius:5px;background:#fff;color:#1a1a1a;padding:6px 10px 8px;"
    "margin:2px 0;text-align:left;" + _FONT
)
_TITLE = "font-weight:600;font-size:13px;"
_STATUS = "margin-left:10px;color:#c8581b;font-size:11px;"
_TABLE = "border-collapse:collapse;margin-top:2px;background:transparent;"
_SECTION = "color:#8a8a8a;font-size:11px;padding:6px 0 1px 0;text-align:left;"
_LABEL = "color:#8a8a8a;padding:1px 12px 1px 10px;text-align:right;vertical-align:top;white-space:nowrap;"
_VALUE = "padding:1px 8px 1px 0;text-align:left;vertical-align:top;"
_MUTED = "color:#8a8a8a;"
_TAG = (
    "display:inline-block;margin-left:3px;padding:0 5px;border:1px solid #d0d0d0;border-radius:3px;"
    "background:#fff;color:#444;font-size:11px;"
)
_WARN = "color:#c8581b;"
_FIGURE = "margin-top:4px;max-width:100%;"
_SVG = "max-width:100%;height:auto;"  # a figure wider than the output area shrinks to fit
_SIDE_BY_SIDE = "display:flex;flex-wrap:wrap;gap:4px 24px;align-items:flex-start;"


def _e(value: object) -> str:
    return escape(str(value))


def _short(text: str) -> str:
    return shortened(text, 48)


# -- building blocks ------------------------------------------------------------------------------

def _cell(text: str, style: str, css_class: str = "", span: int = 1) -> str:
    """A table cell whose ``text`` is HTML already."""
    attributes = f' class="{css_class}"' if css_class else ""
    attributes += f' colspan="{span}"' if span > 1 else ""
    return f'<td{attributes} style="{style}">{text}</td>'


def _row(label: str, *values: str, css_class: str = "wlnet-row", columns: int = 2) -> str:
    """A row of a table of ``columns`` columns: a grey ``label`` (plain text) and value cells
    (HTML), the last spanning the columns left."""
    spans = [1] * (len(values) - 1) + [columns - len(values)]
    cells = "".join(_cell(v, _VALUE, span=n) for v, n in zip(values, spans))
    return f'<tr class="{css_class}">{_cell(_e(label), _LABEL, "wlnet-label")}{cells}</tr>'


def _section(title: str, columns: int = 2) -> str:
    return f'<tr class="wlnet-section">{_cell(_e(title), _SECTION, span=columns)}</tr>'


def _panel(kind: str, title: str, status: str, body: str, side: str = "") -> str:
    """The box: a title line (``title`` and ``status`` plain text), a table of rows (HTML) and,
    beside it or under it where the width does not allow, ``side`` (HTML: a figure)."""
    head = f'<span class="wlnet-title" style="{_TITLE}">{_e(title)}</span>'
    if status:
        head += f'<span class="wlnet-status" style="{_STATUS}">{_e(status)}</span>'
    content = f'<table style="{_TABLE}">{body}</table>' if body else ""
    if side:
        content = f'<div style="{_SIDE_BY_SIDE}"><div>{content}</div>{side}</div>'
    return f'<div class="wlnet-panel wlnet-{kind}" style="{_PANEL}"><div>{head}</div>{content}</div>'


def _tag(text: str) -> str:
    """A boxed note after a value (a coder, a multiplier), set off by a space."""
    return f' <span class="wlnet-tag" style="{_TAG}">{_e(text)}</span>'


def _muted(text: str) -> str:
    return f'<span style="{_MUTED}">{_e(text)}</span>'


def type_text(t: TensorT) -> str:
    """A port type in a few words: :func:`wlnet.types.describe` without its article."""
    return describe(t).removeprefix("an ").removeprefix("a ")


def _figure_html(figure: Any, label: str) -> str:
    """A figure as inline SVG: its document without the XML prologue, and without matplotlib's
    global ``<style>`` rule, which would otherwise apply to the whole page."""
    svg = figure.svg()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<style[^>]*>.*?</style>", "", svg, count=1, flags=re.S)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{_e(label)}" style="{_SVG}" ', 1)
    return f'<div class="wlnet-figure" style="{_FIGURE}">{svg}</div>'


# -- coders and ports -----------------------------------------------------------------------------

_CODER_NOTES = {
    ("NetEncoder", "Boolean"): ("Input", "True or False: True \u2192 1, False \u2192 0"),
    ("NetDecoder", "Boolean"): ("Output", "True or False: True when the value is \u2265 0.5"),
    ("NetEncoder", "Class"): ("Input", "a class label \u2192 its index (1 to n)"),
    ("NetDecoder", "Class"): ("Output", "the label of the most probable class"),
}
_MAX_LABELS_TEXT = 200  # a Class coder's labels, shortened past this many characters


def _coder_name(coder: Any) -> str:
    return f'{type(coder).__name__}("{coder.kind}")'


def coder_html(coder: Any) -> str:
    """The panel of a NetEncoder or NetDecoder: its kind, the array side's type, the value side."""
    kind = type(coder).__name__
    side, note = _CODER_NOTES.get((kind, coder.kind), ("", ""))
    array_side = "Output" if kind == "NetEncoder" else "Input"
    rows = [_row("Type", _e(coder.kind)), _row(array_side, _e(type_text(coder.type)))]
    if side:
        one_hot = getattr(coder, "form", None) == "IndicatorVector"
        rows.append(_row(side, _e(note.replace("its index (1 to n)", "a one-hot vector") if one_hot else note)))
    labels = getattr(coder, "labels", None)
    if labels is not None:
        rows.append(_row("Labels", _e(shortened(f"{len(labels)}: {', '.join(map(repr, labels))}", _MAX_LABELS_TEXT))))
    rows += [_row(str(name), _e(repr(value))) for name, value in coder.options.items()]
    return _panel("coder", kind, "", "".join(rows))


def _port_rows(net: Any, types: Mapping[str, TensorT], columns: int = 2) -> list[str]:
    rows = []
    for name, t in types.items():
        coder = net._coder(name)
        text = _e(type_text(t)) + (_tag(_coder_name(coder)) if coder is not None else "")
        rows.append(_row(name, text, css_class="wlnet-port", columns=columns))
    return rows


# -- layers ---------------------------------------------------------------------------------------

def _value_text(value: Any) -> str:
    """A layer parameter as the user writes it: 1, [1, 3], [], Span(1, 2), LogisticSigmoid."""
    if isinstance(value, tuple):
        return "[" + ", ".join(map(_value_text, value)) + "]"
    if isinstance(value, str):
        return repr(value)
    return "Automatic" if value is Automatic else str(value)


def _parameter_rows(layer: Any) -> list[str]:
    """A row per parameter (levels, function, ...), but for those left out (None: FlattenLayer's
    level when every level is merged)."""
    return [_row(name[:1].upper() + name[1:], _e(_short(_value_text(value))))
            for name, value in layer._params.items() if value is not None]


def _dims_text(dims: tuple | None) -> str:
    if dims is None:
        return "dims unknown"
    return "dims (" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def _array_rows(slots: Iterable[Any], multipliers: Mapping[tuple, float]) -> list[str]:
    rows = []
    for slot in slots:
        state = "uninitialized" if slot.value is Automatic else "initialized"
        text = _e(_dims_text(slot.dims)) + " " + (f'<span style="{_WARN}">{state}</span>' if
                                                 slot.value is Automatic else _muted(state))
        multiplier = multipliers.get(slot.position, 1.0)
        if multiplier != 1:
            text += _tag(f"learning rate \u00d7{multiplier:g}")
        rows.append(_row(slot.name, text, css_class="wlnet-array"))
    return rows


def _status(slots: list[Any]) -> str:
    return "uninitialized" if any(slot.value is Automatic for slot in slots) else ""


def _layer_html(layer: Any, slots: list[Any], multipliers: Mapping[tuple, float]) -> str:
    rows = []
    parameters = _parameter_rows(layer)
    if parameters:
        rows += [_section("Parameters"), *parameters]
    if slots:
        rows += [_section("Arrays"), *_array_rows(slots, multipliers)]
    rows += [_section("Ports"), *_port_rows(layer, layer._input_types()), *_port_rows(layer, layer._output_types())]
    return _panel("layer", type(layer).__name__, _status(slots), "".join(rows))


# -- containers -----------------------------------------------------------------------------------

def _outputs_text(layer: Any) -> str:
    types = layer._output_types()
    if len(types) == 1:
        return type_text(next(iter(types.values())))
    return "; ".join(f"{name}: {type_text(t)}" for name, t in types.items())


def _layer_rows(net: Any) -> list[str]:
    rows = []
    for key, layer in net._children():
        kind = _e(type(layer).__name__)
        function = layer._params.get("function") if type(layer).__name__ == "ElementwiseLayer" else None
        if function is not None:
            kind += " " + _muted(_short(_value_text(function)))
        rows.append(_row(str(key), kind, _e(_outputs_text(layer)), css_class="wlnet-layer", columns=3))
    return rows


def _arrays_summary(slots: list[Any], multipliers: Mapping[tuple, float]) -> list[str]:
    """One row for a container's arrays (count, elements, how many are uninitialized), and one
    per array whose learning-rate multiplier is not 1."""
    if not slots:
        return []
    counts = [None if s.known_dims is None else _product(s.known_dims) for s in slots]
    known = None if None in counts else sum(c for c in counts if c is not None)
    missing = sum(slot.value is Automatic for slot in slots)
    text = f"{len(slots)} array{'s' if len(slots) != 1 else ''}, " + (
        f"{known:,} elements" if known is not None else "elements not known yet")
    html = _e(text) + (f' <span style="{_WARN}">{missing} uninitialized</span>' if missing else "")
    rows = [_row("Arrays", html, columns=3)]
    for slot in slots:
        multiplier = multipliers.get(slot.position, 1.0)
        if multiplier != 1:
            label = "/".join(map(str, slot.position))
            rows.append(_row(label, _tag(f"learning rate \u00d7{multiplier:g}"), css_class="wlnet-array", columns=3))
    return rows


def _product(dims: tuple) -> int:
    count = 1
    for d in dims:
        count *= int(d)
    return count


def _graph_html(net: Any) -> str:
    count = len(net._children())
    if count > GRAPH_LIMIT:
        note = f'{count} layers: the graph is drawn by Information(net, "SummaryGraphic").'
        return f'<div style="{_FIGURE}{_MUTED}">{_e(note)}</div>'
    from .graphics import net_graphic

    return _figure_html(net_graphic(net), f"{type(net).__name__} layer graph")


def _container_html(net: Any, slots: list[Any], multipliers: Mapping[tuple, float]) -> str:
    rows = [
        _section("Input ports", 3), *_port_rows(net, net._input_types(), 3),
        _section("Layers", 3), *_layer_rows(net),
        _section("Output ports", 3), *_port_rows(net, net._output_types(), 3),
    ]
    summary = _arrays_summary(slots, multipliers)
    if summary:
        rows += [_section("Arrays", 3), *summary]
    count = len(net._children())
    title = f"{type(net).__name__} ({count} layer{'s' if count != 1 else ''})"
    return _panel("container", title, _status(slots), "".join(rows), _graph_html(net))


def net_html(net: Any, slots: list[Any], multipliers: Mapping[tuple, float]) -> str:
    """The summary panel of a layer or container, given its array slots and multipliers by position."""
    if hasattr(net, "_children"):
        return _container_html(net, slots, multipliers)
    return _layer_html(net, slots, multipliers)


def summary_graphic(net: Any, full: bool = False) -> Any:
    """``Information(net, "SummaryGraphic")`` (``full=True``: "FullSummaryGraphic", edges labelled
    with their types): the drawn layer graph of a NetChain or NetGraph, a
    :class:`wlnet.graphics.NetFigure`."""
    if not hasattr(net, "_children"):
        prop = "FullSummaryGraphic" if full else "SummaryGraphic"
        raise NetSpecificationError(
            f'Information: "{prop}" is for NetChain and NetGraph (it draws their layers and '
            f"connections); {net._where} is a single layer. Draw it in a "
            + (f'chain: Information(NetChain([layer]), "{prop}").' if len(net._input_names) == 1 else
               f'graph (it has several inputs): Information(NetGraph([layer]), "{prop}").')
        )
    from .graphics import net_graphic

    return net_graphic(net, full)


# -- loss layers and training results ------------------------------------------------------------

def loss_layer_html(layer: Any) -> str:
    """The panel of a loss layer: its form (if any) and its ports."""
    rows = [_row(name[:1].upper() + name[1:], _e(repr(value))) for name, value in vars(layer).items()]
    if rows:
        rows.insert(0, _section("Parameters"))
    rows += [
        _section("Ports"), _row("Input", _e("array of any rank"), css_class="wlnet-port"),
        _row("Target", _e("array of the input's dims"), css_class="wlnet-port"),
        _row("Loss", _e("real number"), css_class="wlnet-port"),
    ]
    return _panel("layer", type(layer).__name__, "", "".join(rows))


def _number(value: Any, digits: int = 4) -> str:
    return "\u2013" if value is None else f"{value:.{digits}g}"


def _loss_rows(values: Mapping[str, Any]) -> list[str]:
    losses = values["RoundLossList"]
    rows = []
    if losses:
        best = min(range(len(losses)), key=losses.__getitem__)
        text = f"final {_number(losses[-1], 6)}" + (
            " (the lowest)" if best == len(losses) - 1 else f", lowest {_number(losses[best], 6)} (round {best + 1})")
        rows.append(_row("Round loss", _e(text)))
    if values["ValidationLossList"]:
        rows.append(_row("Validation loss", _e(f"final {_number(values['ValidationLoss'], 6)}, best round "
                                                f"{values['BestValidationRound']}")))
    return rows


def _run_rows(values: Mapping[str, Any]) -> list[str]:
    trained = values["TrainedNet"]
    return [
        _row("Net", _e(type(trained).__name__)),
        _row("Rounds", _e(f"{values['TotalRounds']} ") + _muted(f"(stopped by {values['ReasonTrainingStopped']})")),
        _row("Batches", _e(f"{values['TotalBatches']} ({values['BatchesPerRound']} per round, "
                           f"{values['BatchSize']} examples each)")),
        _row("Examples", _e(f"{values['TrainingExamples']:,} training" + (
            f", {values['ValidationExamples']:,} validation" if values["ValidationExamples"] else ""))),
        *_loss_rows(values),
        _row("Method", _e(f"{values['OptimizationMethod']}, learning rate {_number(values['InitialLearningRate'])}"
                          + (f" \u2192 {_number(values['FinalLearningRate'])}"
                             if values["FinalLearningRate"] not in (None, values["InitialLearningRate"]) else ""))),
        _row("Time", _e(f"{values['TotalTrainingTime']:.3g} s, {values['MeanExamplesPerSecond']:,.0f} examples/s")),
        _row("Device", _e(values["TargetDevice"])),
    ]


def results_html(values: Mapping[str, Any], plot: Any) -> str:
    """The panel of NetTrainResults: the run's key figures and its loss plot (a NetFigure, or None)."""
    figure = _figure_html(plot, "loss evolution plot") if plot is not None else ""
    return _panel("results", "NetTrainResults", "", "".join(_run_rows(values)), figure)
