"""The tour runs every example and shows the page's results, as the Wolfram Language shows them."""

import re
import sys
import types

import numpy as np
import pytest

import wlnet.tour
from wlnet import NetDecoder
from wlnet.__main__ import main
from wlnet.tour import EXAMPLES, run, show


@pytest.fixture(scope="module")
def tour():
    """The tour's printed text, and what it showed rendered as if in a notebook (run once)."""
    lines, shown = [], []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wlnet.tour, "_notebook_display", lambda: shown.append)
        run(out=lines.append)
    return "\n".join(lines), shown


def result_of(text, statement):
    """The result printed after the wlnet line ``statement``."""
    match = re.search(re.escape(f"  wlnet  : {statement}") + r"\n  result : (.*)", text)
    assert match, statement
    return match.group(1)


def test_tour_runs_every_example_with_the_page_results(tour):
    text, _ = tour
    assert text.count("Wolfram:") == len(EXAMPLES)
    assert "result : [[10.  10.  10. ]\n            [-2.5 -2.5 -2.5]]" in text
    assert "result : [[-0.3 -0.2 -0.1]\n            [ 0.   1.   2. ]]" in text
    assert "'[1, 3]': (2, 4)" in text
    assert 'NetExtract(trained, [2, "Slope"])\n  result : 0.1' in text  # the frozen slope
    assert "loaded == trained, [loaded(x) for x in (1, 2, 3, 4)]\n  result : (True, [" in text  # saved, loaded


def test_float32_values_print_by_their_shortest_form(tour):
    text, _ = tour
    assert "0.10000000149011612" not in text and not re.search(r"\.\d*0{5,}\d", text)  # no float64 expansions
    assert result_of(text, 'Normal(NetExtract(act, "Slope"))') == "[0.1, 0.1, 0.1]"
    assert result_of(text, 'Normal(NetExtract(NetInitialize(ParametricRampLayer([], Input=3)), "Slope"))') == "0.1"
    learned = result_of(text, 'Normal(NetExtract(trained, "Slope"))')
    numbers = learned.strip("[]").split(", ")
    assert len(numbers) == 3 and all(str(np.float32(n)) == n for n in numbers)  # each a float32's shortest form
    assert result_of(text, "act([[[-1, 1, -1]], [[1, 2, 3], [-4, -5, -6]]])") == (
        "[[[-0.1, 1.0, -0.1]], [[1.0, 2.0, 3.0], [-0.4, -0.5, -0.6]]]")


def test_the_boolean_answers_are_explained_and_match_their_probabilities(tour):
    text, _ = tour
    answers = result_of(text, "[trained(x) for x in (1, 2, 3, 4)]")
    assert re.fullmatch(r"\[(True|False)(, (True|False)){3}\]", answers)
    assert ("  meaning: Each answer is the Boolean decoder's reading of the net's output p, the probability the net "
            "gives that x is labelled True (as 2 and 4 are in the training data): True when p >= 0.5, False "
            "below. The labels alternate with x (1 and 3 False, 2 and 4 True), which a net this small fits only "
            "partly in 2000 rounds: compare each answer with its label.") in text
    probabilities = [float(p) for p in result_of(text, 'trained([1, 2, 3, 4], "Probability")').strip("[]").split()]
    assert [p >= 0.5 for p in probabilities] == [a == "True" for a in answers.strip("[]").split(", ")]


def test_in_a_notebook_the_trained_nets_and_results_are_shown_once_each(tour):
    _, shown = tour
    assert [type(value).__name__ for value in shown] == ["NetChain", "NetTrainResults", "NetChain"]
    boolean, _, digits = shown
    assert wlnet.NetExtract(boolean, "Output") == NetDecoder("Boolean")
    assert wlnet.NetExtract(digits, "Output") == NetDecoder(["Class", list(range(10))])


def fake_ipython(monkeypatch, config):
    shown = []
    package = types.ModuleType("IPython")
    package.get_ipython = lambda: None if config is None else types.SimpleNamespace(config=config)
    display = types.ModuleType("IPython.display")
    display.display = shown.append
    monkeypatch.setitem(sys.modules, "IPython", package)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    return shown


def test_notebook_detection(monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython", None)  # not installed: the tour works without it
    assert wlnet.tour._notebook_display() is None
    assert fake_ipython(monkeypatch, None) is not None and wlnet.tour._notebook_display() is None  # plain Python
    fake_ipython(monkeypatch, {"TerminalIPythonApp": {}})
    assert wlnet.tour._notebook_display() is None  # the IPython shell in a terminal
    shown = fake_ipython(monkeypatch, {"IPKernelApp": {}})
    display = wlnet.tour._notebook_display()
    display("net")
    assert shown == ["net"]


@pytest.mark.parametrize(("value", "text"), [
    (0.10000000149011612, "0.1"),  # a float32 carried as a Python float (Normal)
    (0.1, "0.1"),
    (1 / 3, "0.3333333333333333"),  # not a float32: kept as it is
    (np.float32(0.1), "0.1"),
    (np.float64(0.1), "0.1"),
    (np.array(0.25, dtype=np.float32), "0.25"),
    ([np.float32(0.1), 2, "a"], "[0.1, 2, 'a']"),
    ((np.array([0.5, 0.1], dtype=np.float32),), "([0.5, 0.1],)"),
    ({("Slope",): 0.0, "x": [0.20000000298023224]}, "{('Slope',): 0.0, 'x': [0.2]}"),
    (True, "True"),
    ([np.True_, False], "[True, False]"),
])
def test_show(value, text):
    assert show(value) == text


def test_command_line_entry_point(capsys, monkeypatch):
    monkeypatch.setattr(wlnet.tour, "EXAMPLES", EXAMPLES[:2])  # the whole tour ran above
    assert main(["tour"]) == 0
    assert "ParametricRampLayer(1)  # Slope: uninitialized" in capsys.readouterr().out


def test_the_image_net_example_learns_the_digits(tour):
    text, shown = tour
    assert result_of(text, 'NetExtract(NetInitialize(cnn), [3, "Slope"]).shape') == "(16,)"  # a slope per channel
    accuracy = float(result_of(text, "float(np.mean([p == t for p, t in zip(reader(images[1347:]), labels[1347:])]))"))
    assert accuracy >= 0.9  # of 450 held-out digits after 8 rounds (0.969 seen; tests/test_digits.py asks 0.95 of 10)
    labels = re.search(r"reader\(images\[1347\], \(\"TopProbabilities\", 2\)\)\n  result : \((\[.*?\]), (\[.*?\]),",
                       text)
    assert labels and len(labels.group(1).split(", ")) == 8  # eight labels read, beside the true ones
    assert any(type(value).__name__ == "NetTrainResults" for value in shown)  # the panel with the loss plot


def test_without_scikit_learn_the_image_net_steps_say_how_to_run_them(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "sklearn" else find_spec(name, *args))
    monkeypatch.setattr(wlnet.tour, "EXAMPLES", [e for e in EXAMPLES if e.needs or "Create a" in e.caption])
    lines = []
    run(out=lines.append)
    text = "\n".join(lines)
    assert text.count("  skipped: it needs sklearn: pip install scikit-learn (or wlnet[tour])") == 3
    assert "ParametricRampLayer()" in text and "result : " in text  # the other steps ran
