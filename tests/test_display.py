"""What a notebook shows: the summary panels (``_repr_html_``), the drawn nets, the figures and the
progress bar (tests/test_display_browser.py renders the panels in a browser)."""

import subprocess
import sys
import types
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from cases import CASES, branches, page_chain, two_inputs
from wlnet import (
    All,
    CrossEntropyLossLayer,
    Information,
    LinearLayer,
    NetChain,
    NetDecoder,
    NetEncoder,
    NetExtract,
    NetGraph,
    NetInitialize,
    NetPort,
    NetTrain,
    ParametricRampLayer,
    Ramp,
    Tanh,
)
from wlnet.errors import NetSpecificationError
from wlnet.graphics import NetFigure, edge_text
from wlnet.train import callbacks
from wlnet.types import TensorT

HOSTILE = "<script>alert(1)</script>"


def long_chain(n=20):
    return NetChain([LinearLayer(4) if i % 2 == 0 else ParametricRampLayer() for i in range(n)], Input=3)


def hostile_graph():
    return NetGraph({HOSTILE: Tanh, "b&c": Ramp}, [(HOSTILE, "b&c")], Input=2)


def rows(html: str, css_class: str) -> list[str]:
    """The text of the table rows of class ``css_class`` in a panel, cell texts joined by "|"."""
    root = ET.fromstring(html)
    return ["|".join(" ".join("".join(td.itertext()).split()) for td in tr.findall("td"))
            for tr in root.iter("tr") if tr.get("class") == css_class]


def svg_texts(svg: str) -> list[str]:
    return ["".join(e.itertext()) for e in ET.fromstring(svg[svg.index("<svg"):]).iter("{http://www.w3.org/2000/svg}text")]


# -- layer panels -------------------------------------------------------------------------------

def test_layer_panel_of_the_page_ramp():
    html = NetInitialize(ParametricRampLayer(Input=3))._repr_html_()
    assert ET.fromstring(html).get("class") == "wlnet-panel wlnet-layer"
    assert "ParametricRampLayer" in html and "uninitialized" not in html
    assert rows(html, "wlnet-row") == ["Levels|1"]
    assert rows(html, "wlnet-array") == ["Slope|dims (3) initialized"]
    assert rows(html, "wlnet-port") == ["Input|length-3 vector", "Output|length-3 vector"]


def test_layer_panel_of_an_uninitialized_layer():
    html = ParametricRampLayer()._repr_html_()
    assert 'class="wlnet-status"' in html and ">uninitialized<" in html
    assert rows(html, "wlnet-array") == ["Slope|dims unknown uninitialized"]
    assert rows(html, "wlnet-port") == ["Input|array of any rank", "Output|array of any rank"]


def test_layer_panel_shows_multipliers_that_are_not_1_and_the_levels_as_written():
    leaky = ParametricRampLayer([], Slope=0.1, LearningRateMultipliers=0, Input=3)
    html = leaky._repr_html_()
    assert rows(html, "wlnet-row") == ["Levels|[]"]
    assert rows(html, "wlnet-array") == ["Slope|dims () initialized learning rate \u00d70"]
    assert "learning rate" not in NetInitialize(ParametricRampLayer(Input=3))._repr_html_()
    span = ParametricRampLayer([1, 3], Input=(2, 3, 4))._repr_html_()
    assert rows(span, "wlnet-row") == ["Levels|[1, 3]"] and "dims (2, 4)" in span


def test_linear_layer_panel():
    html = NetInitialize(LinearLayer(2, Input=3, LearningRateMultipliers=0.5))._repr_html_()
    assert rows(html, "wlnet-array") == [
        "Weights|dims (2, 3) initialized learning rate \u00d70.5",
        "Biases|dims (2) initialized learning rate \u00d70.5",
    ]
    assert rows(html, "wlnet-port") == ["Input|length-3 vector", "Output|length-2 vector"]


def test_repr_stays_the_constructor():
    net = page_chain()
    assert repr(net).startswith("NetChain([LinearLayer(3), ") and "<" not in repr(net).split("#")[0]
    assert repr(ParametricRampLayer(Input=3)) == "ParametricRampLayer(1, Input=3)  # Slope: uninitialized, dims (3,)"


# -- container panels ---------------------------------------------------------------------------

def test_chain_panel_of_the_page_shows_layers_ports_decoder_and_graph():
    html = page_chain()._repr_html_()
    root = ET.fromstring(html)
    assert root.get("class") == "wlnet-panel wlnet-container"
    assert "NetChain (4 layers)" in html and ">uninitialized<" in html
    assert rows(html, "wlnet-layer") == [
        "1|LinearLayer|length-3 vector",
        "2|ParametricRampLayer|length-3 vector",
        "3|LinearLayer|real number",
        "4|ElementwiseLayer LogisticSigmoid|real number",
    ]
    assert rows(html, "wlnet-port") == ["Input|array of any rank", 'Output|real number NetDecoder("Boolean")']
    assert rows(html, "wlnet-array") == ["2/Slope|learning rate \u00d70"]
    assert rows(html, "wlnet-row") == ["Arrays|5 arrays, elements not known yet 4 uninitialized"]
    svg = root.find(".//{http://www.w3.org/2000/svg}svg")
    assert svg is not None and svg.get("aria-label") == "NetChain layer graph"
    texts = ["".join(t.itertext()) for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert texts == ["Input", "1", "LinearLayer", "2", "ParametricRampLayer", "3", "LinearLayer", "4",
                     "ElementwiseLayer", "Output", "Boolean decoder"]


def test_graph_panel_names_its_ports_and_layers():
    html = NetInitialize(two_inputs())._repr_html_()
    assert rows(html, "wlnet-port") == [
        "x|length-3 vector", "y|length-2 vector", "Output1|length-2 vector", "Output2|length-1 vector"]
    assert [r.split("|")[:2] for r in rows(html, "wlnet-layer")] == [
        ["a", "LinearLayer"], ["b", "ParametricRampLayer"], ["sum", "LinearLayer"]]
    assert rows(html, "wlnet-row") == ["Arrays|5 arrays, 13 elements"] and "uninitialized" not in html


def test_hostile_names_are_escaped_everywhere():
    html = hostile_graph()._repr_html_()
    assert "<script" not in html.lower() and "&lt;script&gt;" in html and "b&amp;c" in html
    assert rows(html, "wlnet-layer")[0].startswith(HOSTILE + "|ElementwiseLayer")
    svg = Information(hostile_graph(), "SummaryGraphic").svg()
    assert "<script" not in svg.lower() and HOSTILE in svg_texts(svg) and "b&c" in svg_texts(svg)
    # matplotlib's mathtext is not applied to names: "$x$" is drawn as written.
    dollars = Information(NetChain({"$x$": Tanh, "a_1^2": Ramp}, Input=2), "SummaryGraphic")
    assert {"$x$", "a_1^2"} <= set(svg_texts(dollars.svg()))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_net_has_a_well_formed_self_contained_panel(case):
    net = case.net()
    html = net._repr_html_()
    root = ET.fromstring(html)  # well formed: every tag closed, every text escaped
    assert root.tag == "div" and root.get("class", "").startswith("wlnet-panel")
    assert type(net).__name__ in html
    assert [r.split("|")[0] for r in rows(html, "wlnet-port")] == [*net._input_types(), *net._output_types()]
    lowered = html.lower()
    assert "<script" not in lowered and "<link" not in lowered and " src=" not in lowered
    assert "<style" not in lowered and "url(" not in lowered  # inline styles only, nothing fetched


@pytest.mark.parametrize("case", [c for c in CASES if c.id.startswith(("chain", "graph", "conv-chain", "bn-chain",
                                                                        "pooling-chain"))],
                         ids=lambda case: case.id)
def test_every_container_draws_each_of_its_parts(case):
    net = case.net()
    texts = svg_texts(Information(net, "SummaryGraphic").svg())
    parts = NetExtract(net, All)
    for name, part in (parts.items() if isinstance(parts, dict) else enumerate(parts, 1)):
        assert str(name) in texts and type(part).__name__ in texts, name  # a nested container is one node


def test_a_graph_too_large_to_draw_inline_says_how_to_draw_it(monkeypatch):
    import wlnet.display

    monkeypatch.setattr(wlnet.display, "GRAPH_LIMIT", 3)
    html = page_chain()._repr_html_()
    assert "<svg" not in html and '4 layers: the graph is drawn by Information(net, &quot;SummaryGraphic&quot;)' in html


# -- coders, loss layers and training results ---------------------------------------------------

def test_coder_panels():
    decoder = NetDecoder("Boolean")._repr_html_()
    assert ET.fromstring(decoder).get("class") == "wlnet-panel wlnet-coder" and ">NetDecoder<" in decoder
    assert rows(decoder, "wlnet-row") == [
        "Type|Boolean", "Input|real number", "Output|True or False: True when the value is \u2265 0.5"]
    encoder = NetEncoder("Boolean")._repr_html_()
    assert rows(encoder, "wlnet-row") == [
        "Type|Boolean", "Output|real number", "Input|True or False: True \u2192 1, False \u2192 0"]
    assert repr(NetDecoder("Boolean")) == "NetDecoder('Boolean')"


def test_loss_layer_panel():
    html = CrossEntropyLossLayer("Binary")._repr_html_()
    assert ">CrossEntropyLossLayer<" in html and rows(html, "wlnet-row") == ["Kind|'Binary'"]
    assert rows(html, "wlnet-port") == [
        "Input|array of any rank", "Target|array of the input's dims", "Loss|real number"]


@pytest.fixture(scope="module")
def results():
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(-1, 1, (10, 3)), rng.uniform(-1, 1, (10, 3))
    return NetTrain(NetInitialize(ParametricRampLayer(Input=3)), (X, Y), All, MaxTrainingRounds=2, BatchSize=5,
                    TrainingProgressReporting=None)


def test_results_panel_shows_key_figures_and_the_loss_plot(results):
    html = results._repr_html_()
    root = ET.fromstring(html)
    assert root.get("class") == "wlnet-panel wlnet-results"
    figures = dict(r.split("|", 1) for r in rows(html, "wlnet-row"))
    assert figures["Net"] == "ParametricRampLayer"
    assert figures["Rounds"] == "2 (stopped by MaxTrainingRounds)"
    assert figures["Batches"] == "4 (2 per round, 5 examples each)"
    assert figures["Examples"] == "10 training" and figures["Device"] == results["TargetDevice"]
    losses = results["RoundLossList"]
    assert figures["Round loss"].startswith(f"final {losses[-1]:.6g}")
    assert figures["Method"].startswith("ADAM, learning rate")
    svg = root.find(".//{http://www.w3.org/2000/svg}svg")
    assert svg is not None and svg.get("aria-label") == "loss evolution plot"
    assert "training loss" in ["".join(t.itertext()) for t in svg.iter("{http://www.w3.org/2000/svg}text")]


def test_loss_evolution_plot_shows_itself(results, tmp_path):
    figure = results["LossEvolutionPlot"]
    assert isinstance(figure, NetFigure) and isinstance(figure, Figure)
    assert figure._repr_svg_().lstrip().startswith("<?xml") and "training loss" in svg_texts(figure.svg())
    assert figure._repr_png_().startswith(b"\x89PNG\r\n\x1a\n")
    figure.savefig(tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")


# -- drawn nets ---------------------------------------------------------------------------------

def text_positions(figure) -> dict[str, tuple[float, float]]:
    return {t.get_text(): t.get_position() for t in figure.axes[0].texts}


def test_summary_graphic_of_the_page_chain_reads_left_to_right():
    figure = Information(page_chain(), "SummaryGraphic")
    assert isinstance(figure, NetFigure)
    width, height = figure.get_size_inches()
    assert width > 3 * height
    at = text_positions(figure)
    xs = [at[name][0] for name in ("Input", "1", "2", "3", "4", "Output")]
    assert xs == sorted(xs)
    arrows = [p for p in figure.axes[0].patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 5
    assert {"(3)", "real", "any"} & set(svg_texts(figure.svg())) == set()


def test_full_summary_graphic_labels_edges_with_their_types():
    figure = Information(NetChain([LinearLayer(3), Ramp, LinearLayer([])], Input=2), "FullSummaryGraphic")
    labels = [t.get_text() for t in figure.axes[0].texts if t.get_fontsize() < 8]
    assert labels == ["(2)", "(3)", "(3)", "real"]
    assert [edge_text(TensorT(d)) for d in (None, (), (2, 3), ("Varying", 3), (None,))] == [
        "any", "real", "(2\u00d73)", "(n\u00d73)", "(?)"]
    assert edge_text(TensorT(None, (None, 3))) == "(?\u00d73\u00d7\u2026)"


def test_graph_with_two_outputs_has_an_edge_per_connection():
    figure = Information(NetInitialize(branches()), "SummaryGraphic")
    arrows = [p for p in figure.axes[0].patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 5  # Input -> trunk -> head, act; head -> Output1; act -> Output2
    at = text_positions(figure)
    assert at["Input"][0] < at["trunk"][0] < at["head"][0] < at["Output1"][0]
    assert at["head"][0] == at["act"][0] and at["head"][1] != at["act"][1]


def test_an_edge_skipping_a_layer_goes_around_it():
    graph = NetGraph({"hidden": LinearLayer(3), "relu": Ramp, "out": LinearLayer(2)},
                     [(NetPort("x"), "hidden", "relu", "out"), ("hidden", NetPort("raw"))], x=4)
    figure = Information(graph, "SummaryGraphic")
    bends = sorted(abs(p.get_connectionstyle().rad) for p in figure.axes[0].patches if isinstance(p, FancyArrowPatch))
    assert bends[:-1] == [0.0] * 4 and bends[-1] > 0  # hidden -> raw passes relu and out


def test_ports_of_a_layer_with_several_are_named_on_its_edges():
    graph = NetGraph({"inner": branches(), "sum": LinearLayer(1)}, [
        (NetPort("inner", "Output1"), NetPort("sum", "Input")), (NetPort("inner", "Output2"), NetPort("z"))])
    labels = {t.get_text() for t in Information(graph, "FullSummaryGraphic").axes[0].texts}
    assert {"Output1: (2)", "Output2: (3)"} <= labels


@pytest.mark.parametrize("make", [long_chain, lambda: NetGraph(long_chain())], ids=["chain", "graph"])
def test_a_20_layer_net_is_drawn_top_to_bottom_and_stays_narrow(make):
    figure = Information(make(), "FullSummaryGraphic")
    width, height = figure.get_size_inches()
    assert height > 3 * width and width < 4 and height < 16
    texts = svg_texts(figure.svg())
    for i in range(1, 21):
        kind = "LinearLayer" if i % 2 else "ParametricRampLayer"
        assert f"{i} \u00b7 {kind}" in texts
    at = text_positions(figure)
    ys = [at[f"{i} \u00b7 {'LinearLayer' if i % 2 else 'ParametricRampLayer'}"][1] for i in range(1, 21)]
    assert ys == sorted(ys, reverse=True)


def test_summary_graphics_are_for_containers_only():
    with pytest.raises(NetSpecificationError, match=r'"SummaryGraphic" is for NetChain and NetGraph .*'
                                                    r"ParametricRampLayer \(levels 1\) is a single layer"):
        Information(ParametricRampLayer(), "SummaryGraphic")
    with pytest.raises(NetSpecificationError, match=r'"FullSummaryGraphic" is for NetChain and NetGraph'):
        Information(LinearLayer(2), "FullSummaryGraphic")
    assert "SummaryGraphic" in Information(page_chain(), "Properties")


def test_figures_give_svg_and_png(tmp_path):
    figure = Information(page_chain(), "SummaryGraphic")
    svg = figure.svg()
    assert svg == figure._repr_svg_() and svg == figure.svg()  # stable: no date, fixed ids
    assert figure.png().startswith(b"\x89PNG") and len(figure.png(dpi=200)) > len(figure.png(dpi=50))
    figure.savefig(tmp_path / "net.svg")
    assert "ParametricRampLayer" in (tmp_path / "net.svg").read_text()


def test_import_and_plain_panels_do_not_load_matplotlib():
    code = ("import sys, wlnet; wlnet.ParametricRampLayer()._repr_html_(); wlnet.NetDecoder('Boolean')._repr_html_();"
            "print('matplotlib' in sys.modules, 'networkx' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


# -- the progress bar ---------------------------------------------------------------------------

def fake_ipython(monkeypatch, shell_class: str | None):
    module = types.ModuleType("IPython")
    shell = None if shell_class is None else type(shell_class, (), {"config": {}})()
    module.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", module)


def test_progress_bar_in_a_terminal_is_tqdm(monkeypatch):
    from tqdm.std import tqdm

    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert callbacks.progress_bar_class() is tqdm
    fake_ipython(monkeypatch, "TerminalInteractiveShell")
    assert callbacks.progress_bar_class() is tqdm
    fake_ipython(monkeypatch, None)
    assert callbacks.progress_bar_class() is tqdm


def test_progress_bar_in_a_notebook_without_ipywidgets_is_plain_text(monkeypatch):
    from tqdm.std import tqdm

    fake_ipython(monkeypatch, "ZMQInteractiveShell")
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets raises ImportError
    assert callbacks.progress_bar_class() is tqdm


def test_progress_bar_in_a_notebook_with_ipywidgets_is_the_widget(monkeypatch):
    fake_ipython(monkeypatch, "ZMQInteractiveShell")
    monkeypatch.setitem(sys.modules, "ipywidgets", types.ModuleType("ipywidgets"))
    notebook = types.ModuleType("tqdm.notebook")
    notebook.tqdm = type("tqdm_notebook", (), {})
    monkeypatch.setitem(sys.modules, "tqdm.notebook", notebook)
    assert callbacks.progress_bar_class() is notebook.tqdm


def test_nettrain_in_a_notebook_without_ipywidgets_shows_a_text_bar_without_warning(monkeypatch, capsys):
    fake_ipython(monkeypatch, "ZMQInteractiveShell")
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    X = np.random.default_rng(1).standard_normal((6, 2))
    NetTrain(NetInitialize(ParametricRampLayer(Input=2)), (X, X), MaxTrainingRounds=2,
             TrainingProgressReporting="ProgressIndicator")  # a warning would fail the test (filterwarnings)
    out, err = capsys.readouterr()
    assert "NetTrain: 100%" in out and "2/2" in out and "IProgress" not in out + err  # the cell's output
    assert "NetTrain" not in err
