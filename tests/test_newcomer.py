"""What a newcomer trips over (issue 23): the README's commands and examples as written, tuple
positions, a container's repr, Information in a script, warnings at the user's line, stale text."""

import logging
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

from wlnet import (
    All,
    Information,
    LinearLayer,
    NetChain,
    NetExtract,
    NetGraph,
    NetInitialize,
    NetPortGradient,
    NetReplacePart,
    NetTrain,
    ParametricRampLayer,
    Ramp,
)
from wlnet.__main__ import main
from wlnet.errors import NetSpecificationError, NetTrainWarning
from wlnet.kernels import cpu

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
CPU_TORCH = "python -m pip install torch --index-url https://download.pytorch.org/whl/cpu"


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


# --- the quick start ------------------------------------------------------------------------------

def test_quick_start_installs_the_cpu_torch_first_and_ci_runs_its_test_command():
    """Followed literally on a CPU-only machine, each command takes torch from PyTorch's CPU index
    before pip installs wlnet (whose torch requirement PyPI would meet with the CUDA build)."""
    section = _section(README, "Quick start")
    (block,) = _blocks(section, "bash")
    commands = block.strip().splitlines()
    assert len(commands) == 2
    for command in commands:
        steps = [step.strip() for step in command.split("&&")]
        assert steps[0] == CPU_TORCH, command
        assert any(step.startswith("python -m pip install \".[") for step in steps[1:]), command
    assert commands[0].endswith("python -m wlnet tour")
    assert commands[1].endswith("python -m pytest")
    assert re.search(r"With an NVIDIA GPU\*\*, leave out the first `pip install torch ...` of each command", section)
    # CI runs the README's test command exactly (after pinning torch from the machine's wheels).
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == commands[1]


# --- tuple positions --------------------------------------------------------------------------------

CHAIN = NetInitialize(NetChain([LinearLayer(4), ParametricRampLayer(), NetChain([LinearLayer(3), Ramp])], Input=2))
GRAPH = NetInitialize(NetGraph({"a": LinearLayer(4), "r": ParametricRampLayer()}, [("a", "r")], Input=2))


@pytest.mark.parametrize("net", [CHAIN, GRAPH], ids=["chain", "graph"])
def test_positions_from_information_work_as_they_are(net):
    """``Information(net, "ArraysPositionList")`` gives tuples; NetExtract, NetReplacePart and
    Information's arrays take them as they take the same path as a list."""
    positions = Information(net, "ArraysPositionList")
    arrays = Information(net, "Arrays")
    for position in positions:
        assert isinstance(position, tuple)
        value = NetExtract(net, position)
        np.testing.assert_array_equal(value, NetExtract(net, list(position)))
        np.testing.assert_array_equal(value, arrays[position])
        new = np.full(value.shape, 0.5, dtype=np.float32)
        np.testing.assert_array_equal(NetExtract(NetReplacePart(net, position, new), position), new)
        np.testing.assert_array_equal(NetExtract(NetReplacePart(net, {position: new}), list(position)), new)


def test_several_specs_are_a_list_or_tuple_of_paths():
    both = NetExtract(CHAIN, [(1, "Weights"), [2, "Slope"]])
    assert isinstance(both, list) and len(both) == 2
    np.testing.assert_array_equal(both[1], NetExtract(CHAIN, (2, "Slope")))
    as_tuple = NetExtract(CHAIN, ((1, "Biases"), (3, 1, "Weights")))
    assert isinstance(as_tuple, tuple) and as_tuple[1].shape == (3, 4)
    # A tuple of steps is one path, not several specs: "Slope" alone names no layer of a chain.
    np.testing.assert_array_equal(NetExtract(CHAIN, (2, "Slope")), NetExtract(CHAIN, [2, "Slope"]))
    with pytest.raises(NetSpecificationError, match="no array or port 'Slop'"):
        NetExtract(CHAIN, (2, "Slop"))


def test_tuple_positions_in_gradients_and_multiplier_rules():
    x = np.array([[0.5, -1.0]], dtype=np.float32)
    np.testing.assert_array_equal(CHAIN(x, NetPortGradient((2, "Slope"))), CHAIN(x, NetPortGradient([2, "Slope"])))
    data = (np.ones((4, 2), dtype=np.float32), np.zeros((4, 3), dtype=np.float32))
    trained = NetTrain(CHAIN, data, MaxTrainingRounds=2, RandomSeeding=1, TrainingProgressReporting=None,
                       LearningRateMultipliers=[((2, "Slope"), 0)])
    assert NetExtract(trained, (2, "Slope")).tobytes() == NetExtract(CHAIN, (2, "Slope")).tobytes()
    assert NetExtract(trained, (1, "Weights")).tobytes() != NetExtract(CHAIN, (1, "Weights")).tobytes()


# --- a container's repr -------------------------------------------------------------------------------

def test_a_chain_repr_names_every_array_it_leaves_out():
    net = NetInitialize(NetChain([LinearLayer(16), ParametricRampLayer(), NetChain([LinearLayer(20), Ramp])], Input=4))
    text = repr(net)
    constructor, _, comment = text.partition("  # ")
    weights = NetExtract(net, (1, "Weights"))
    assert f"(1, 'Weights'): dims (16, 4), min {weights.min():g}, max {weights.max():g}" in comment
    assert "(3, 1, 'Weights'): dims (20, 16)" in comment and "(3, 1, 'Biases'): dims (20,)" in comment
    assert "Slope" not in comment and "(1, 'Biases')" not in comment  # 16 values: written out
    assert eval(constructor, vars(sys.modules["wlnet"])) != net  # what the comment warns of
    # The same words as a lone layer's repr, with the position in front.
    lone = repr(NetExtract(net, 1)).partition("  # ")[2]
    assert "(1, 'Weights'):" + lone.removeprefix("Weights:") in comment


def test_a_repr_without_a_comment_gives_the_net_back():
    net = NetInitialize(NetGraph({"a": LinearLayer(3), "r": ParametricRampLayer()}, [("a", "r")], Input=2))
    text = repr(net)
    assert "#" not in text
    assert eval(text, vars(sys.modules["wlnet"])) == net


def test_a_big_net_repr_names_a_few_arrays_and_counts_the_rest():
    net = NetInitialize(NetChain([LinearLayer(20) for _ in range(12)], Input=20))
    comment = repr(net).partition("  # ")[2]
    assert len(comment.split("; ")) == 8 and comment.count("dims (20, 20)") == 4  # Weights and Biases alternate
    assert '17 more arrays left out (Information(net, "Arrays") has them all)' in comment


# --- Information in a script ------------------------------------------------------------------------------

def test_information_prints_the_report_in_a_script(capsys, monkeypatch):
    monkeypatch.delattr(sys, "ps1", raising=False)
    report = Information(NetInitialize(ParametricRampLayer(Input=3)))
    out = capsys.readouterr().out
    assert out == str(report) + "\n"
    assert "array Slope" in out and "dims (3,), initialized" in out
    # The report is returned too, to read properties from.
    assert report["ArraysCount"] == 1


def test_information_at_a_prompt_leaves_the_showing_to_the_prompt(capsys, monkeypatch):
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    report = Information(ParametricRampLayer(Input=3))
    assert capsys.readouterr().out == ""  # the prompt shows the returned report, once
    assert repr(report).startswith("Information: ParametricRampLayer")
    assert "<table>" in report._repr_html_()


def test_information_in_a_real_script(tmp_path):
    script = tmp_path / "report.py"
    script.write_text("from wlnet import Information, ParametricRampLayer\nInformation(ParametricRampLayer(Input=3))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("Information: ParametricRampLayer\n") and "input port 'Input'" in done.stdout


# --- warnings point at the user's line -----------------------------------------------------------------

X2 = np.ones((4, 2), dtype=np.float32)
FROZEN = NetInitialize(ParametricRampLayer(Input=2, LearningRateMultipliers=0))


def _train(net, **options):
    return NetTrain(net, (X2, X2), MaxTrainingRounds=2, RandomSeeding=1, TrainingProgressReporting=None, **options)


def test_training_warnings_point_at_the_users_call():
    with pytest.warns(NetTrainWarning) as caught:
        _train(FROZEN)
        _train(ParametricRampLayer(Input=2), TrainingStoppingCriterion="Loss")
        NetTrain(ParametricRampLayer(Input=2), (-np.ones((4, 2)), np.zeros((4, 2))), MaxTrainingRounds=3,
                 Method=("SGD", {"Momentum": None}), LearningRate=1e40, RandomSeeding=1,
                 TrainingProgressReporting=None)
    messages = [str(w.message) for w in caught]
    assert any("no arrays to train" in m for m in messages)
    assert any("TrainingStoppingCriterion" in m for m in messages)
    assert any("diverged" in m for m in messages)
    for w in caught:
        assert w.filename == __file__, (w.filename, w.message)


def test_checkpoint_warnings_point_at_the_users_call_and_read_well(tmp_path):
    _train(ParametricRampLayer(Input=2), TrainingProgressCheckpointing=str(tmp_path))
    newest = sorted(tmp_path.glob("checkpoint-round-*.safetensors"))[-1]
    data = bytearray(newest.read_bytes())
    data[-3] ^= 0xFF  # the last tensor's values: the random-number state
    newest.write_bytes(bytes(data))
    with pytest.warns(NetTrainWarning) as caught:
        NetTrain(str(tmp_path), (X2, 2 * X2), MaxTrainingRounds=3, RandomSeeding=1, TrainingProgressReporting=None)
    assert [w.filename for w in caught] == [__file__] * len(caught) and len(caught) == 2
    skipped = str(caught[0].message)
    assert skipped.startswith(f"NetTrain: skipping the checkpoint {newest}, which is damaged (")
    assert skipped.count("NetTrain") == 1 and "%" not in skipped  # no key of wlnet's own tensors
    assert "do not match their checksum" in skipped
    assert "the data or options differ" in str(caught[1].message)


def test_the_same_warning_from_two_lines_of_the_user_shows_twice():
    """Python shows a warning once per place and message: the place is the user's line, so one
    from another line (or another message from the same line) is not hidden by the first."""
    data, options = (X2, X2), {"MaxTrainingRounds": 1, "TrainingProgressReporting": None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(2):
            NetTrain(FROZEN, data, **options)  # the same message twice from this line: shown once, as Python does
        NetTrain(FROZEN, data, **options)  # the same message from another line: shown again
        for net in (FROZEN, NetChain([FROZEN])):
            NetTrain(net, data, **options)  # two messages from one line: both shown
    texts = [str(w.message) for w in caught]
    assert len(texts) == 4, texts
    assert sum("NetChain" in t for t in texts) == 1
    assert len({w.lineno for w in caught}) == 3


# --- what is shown is what the user sees ----------------------------------------------------------------

def test_the_guide_shows_what_a_prompt_shows():
    """Each line of the README's guide whose comment is a value shows that value at a prompt."""
    code = _blocks(_section(README, "Guide"), "python")[0]
    namespace: dict = {}
    checked = 0
    for line in code.splitlines():
        statement, _, comment = (part.strip() for part in line.partition("  #"))
        if comment.startswith(("[", "array(")):
            assert repr(eval(statement, namespace)) == comment, line
            checked += 1
        elif statement:
            exec(statement, namespace)
    assert checked == 2


# --- stale and internal text -----------------------------------------------------------------------------

def test_documents_speak_to_users():
    texts = {path.name: path.read_text() for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]}
    for name, text in texts.items():
        assert not re.search(r"\bissue(\s+#?\d+|'s)", text, re.I), name
        assert "this project's" not in text and "session" not in text, name
    kernel = texts["kernel.md"]
    assert "optional extra" not in kernel and "20-30 s" not in kernel
    assert re.search(r"`numba` is a dependency", kernel)


def test_command_line_help_is_plain_text(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "tour" in out and "`" not in out


def test_nettrain_documents_every_target_device():
    doc = textwrap.dedent(NetTrain.__doc__ or "")
    device = doc[doc.index("TargetDevice:"):doc.index("TrainingProgressReporting:")]
    for form in ('("CPU", n)', '("GPU", All)', '("GPU", [k1, k2])', '"GPU"'):
        assert form in device, form


@pytest.mark.skipif(cpu.MISSING is not None, reason="numba unavailable")
def test_the_compile_notice_is_information_unless_every_process_compiles(monkeypatch, caplog):
    monkeypatch.setattr(cpu, "_announced", False)
    with caplog.at_level(logging.INFO, logger="wlnet"):
        cpu._announce_compiling(torch.float32, True)
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert "compiling the fast CPU kernels for float32" in record.getMessage()
    assert "NUMBA_CACHE_DIR moves it" in record.getMessage()
    caplog.clear()
    monkeypatch.setattr(cpu, "_announced", False)
    monkeypatch.setattr(cpu, "cache_dir", lambda: None)
    with caplog.at_level(logging.INFO, logger="wlnet"):
        cpu._announce_compiling(torch.float64, False)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "set NUMBA_CACHE_DIR to a writable directory" in record.getMessage()


def test_all_is_still_every_part():
    assert NetExtract(CHAIN, All)[1] == NetExtract(CHAIN, 2)
