"""Options and environment (issue 23): every ``WLNET_*`` variable read defensively, every NetTrain
option checked before the first round, and the hint for a Numba threading layer that cannot start.

Each bad value is a warning and the default (environment variables: they must never fail an
evaluation) or a NetOptionError naming the option, the value and what is expected (NetTrain's
options), raised before any round runs: a TrainingProgressFunction that records its calls is
never called. No timings.
"""

from __future__ import annotations

import math
import pathlib
import re
import sys
import traceback
import warnings

import numpy as np
import pytest

from wlnet import (
    All,
    Automatic,
    LinearLayer,
    MeanSquaredLossLayer,
    NetChain,
    NetExtract,
    NetInitialize,
    NetTrain,
    ParametricRampLayer,
    Scaled,
    errors,
    kernels,
)
from wlnet.errors import NetOptionError, shown
from wlnet.kernels import cpu, memory, pool, settings
from wlnet.kernels.settings import VARIABLES, SettingWarning

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "wlnet"
needs_numba = pytest.mark.skipif(cpu.MISSING is not None, reason=f"numba unavailable: {cpu.MISSING}")

# --- WLNET_* environment variables ---------------------------------------------------------------

#: Values no variable takes (a byte count, then a flag), by what makes them bad.
BAD_BYTES = {
    "5000 digits": "9" * 5000,  # Python's int() refuses more than 4300 digits
    "negative": "-1",
    "word": "abc",
    "empty": "",
    "blank": "   ",
    "huge": str(2**63),
    "float": "1.5",
    "exponent": "1e9",
    "hex": "0x10",
    "underscores": "1_000",
    "unit": "12 MiB",
    "non-ASCII digits": "\u0661\u0662",  # Arabic-Indic 12: int() would take it
}
BAD_FLAGS = {
    "5000 digits": "1" * 5000,
    "negative": "-1",
    "word": "abc",
    "empty": "",
    "huge": str(2**63),
    "float": "1.0",
    "two": "2",
}


def _bad_values(kind: str) -> dict[str, str]:
    return BAD_BYTES if kind == "bytes" else BAD_FLAGS


BAD_SETTINGS = [
    pytest.param(name, value, id=f"{name}-{what}")
    for name, variable in VARIABLES.items()
    for what, value in _bad_values(variable.kind).items()
]


def _check_warning(caught: list, name: str, value: str) -> None:
    """One SettingWarning naming the variable, the value (cut when long) and what it accepts."""
    found = [w for w in caught if issubclass(w.category, SettingWarning)]
    assert len(found) == 1, [str(w.message) for w in caught]
    message = str(found[0].message)
    assert f"{name}=" in message
    assert (repr(value) if len(value) <= 40 else f"({len(value)} characters)") in message
    accepted = "a whole number of bytes from 0 to 2**63 - 1" if VARIABLES[name].kind == "bytes" else (
        "one of 1, true, yes, on, 0, false, no, off")
    assert accepted in message and "using the default" in message
    assert len(message) < 300


def test_every_variable_wlnet_reads_is_in_the_one_table():
    """Every ``WLNET_*`` name in the source is parsed by kernels/settings.py's table, and each is
    documented there and in the README."""
    used = set()
    for path in SRC.rglob("*.py"):
        used |= set(re.findall(r"WLNET_[A-Z_]*[A-Z]", path.read_text()))
    assert used == set(VARIABLES)
    readme = (SRC.parents[1] / "README.md").read_text()
    for name in VARIABLES:
        assert name in settings.__doc__ and name in readme


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_a_bad_value_warns_once_and_gives_the_default(monkeypatch, name, value):
    monkeypatch.setattr(settings, "_warned", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert settings.read(name, {name: value}) == VARIABLES[name].default
        assert settings.read(name, {name: value}) == VARIABLES[name].default  # no second warning
    _check_warning(caught, name, value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0), (" 4096 ", 4096), (str(2**63 - 1), 2**63 - 1), ("0" * 5000 + "42", 42), ("000", 0)],
)
def test_good_byte_counts_are_read(value, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert settings.read("WLNET_OUTPUT_POOL_BYTES", {"WLNET_OUTPUT_POOL_BYTES": value}) == expected


# Where each variable is read in the process: (module, the attribute that keeps the value, the
# function that reads it the first time), and the default it then has.
READERS = {
    "WLNET_STREAM_MIN_BYTES": (cpu, "STREAM_MIN_BYTES", cpu._stream_min_bytes,
                               lambda: settings.last_level_cache() // 2),
    "WLNET_HUGE_PAGES": (cpu, "HUGE_PAGES", cpu._huge_pages, lambda: True),
    "WLNET_OUTPUT_POOL_BYTES": (pool, "_limit", pool._max_bytes, lambda: 2 << 30),
    "WLNET_COMPILE_IN_BACKGROUND": (kernels, "COMPILE_IN_BACKGROUND", kernels._in_background, lambda: True),
}


@pytest.mark.parametrize(("name", "value"), [p for p in BAD_SETTINGS if p.values[0] in READERS])
def test_each_variable_is_read_once_where_it_is_used(monkeypatch, name, value):
    module, attribute, reader, default = READERS[name]
    monkeypatch.setattr(settings, "_warned", set())
    monkeypatch.setattr(module, attribute, None)
    monkeypatch.setenv(name, value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert reader() == default()
    _check_warning(caught, name, value)
    monkeypatch.setenv(name, "1")  # read once: a later change is not seen
    assert reader() == default() and getattr(module, attribute) == default()


@pytest.mark.parametrize("value", list(BAD_FLAGS.values()), ids=list(BAD_FLAGS))
def test_a_bad_reuse_memory_leaves_malloc_alone(monkeypatch, value):
    called = []
    monkeypatch.setattr(settings, "_warned", set())
    monkeypatch.setattr(memory, "reuse_memory", lambda: called.append(1))
    monkeypatch.setenv("WLNET_REUSE_MEMORY", value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        memory.from_environment()
    _check_warning(caught, "WLNET_REUSE_MEMORY", value)
    assert called == []


def _ramp_training(**options):
    """A short NetTrain of a ParametricRampLayer big enough for the fused training kernels."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
    y = np.where(x > 0, x, 0.3 * x)
    net = ParametricRampLayer(1, Input=(16, 32, 32))
    assert x[0].size * 8 >= kernels.MIN_FUSED_TRAINING_NUMEL
    trained = NetTrain(net, (x, y), BatchSize=8, MaxTrainingRounds=2, RandomSeeding=3,
                       TrainingProgressReporting=None, **options)
    return NetExtract(trained, "Slope")


@needs_numba
def test_stream_min_bytes_of_5000_digits_trains_as_the_default(monkeypatch):
    """The issue's case: every training step failed with Python's "Exceeds the limit (4300
    digits) for integer string conversion"."""
    monkeypatch.setattr(settings, "_warned", set())
    monkeypatch.setattr(kernels, "TORCH_FORWARD_BYTES", 0)  # the fused forward, which reads the variable
    monkeypatch.setattr(cpu, "STREAM_MIN_BYTES", None)
    monkeypatch.setenv("WLNET_STREAM_MIN_BYTES", "9" * 5000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        slopes = _ramp_training()
    _check_warning(caught, "WLNET_STREAM_MIN_BYTES", "9" * 5000)
    assert cpu.STREAM_MIN_BYTES == settings.last_level_cache() // 2  # read in the steps: the default
    monkeypatch.delenv("WLNET_STREAM_MIN_BYTES")
    monkeypatch.setattr(cpu, "STREAM_MIN_BYTES", None)
    np.testing.assert_array_equal(slopes, _ramp_training())


# --- Numba's threading layer ---------------------------------------------------------------------


def _numba_error_in_caching_py(message: str) -> Exception:
    """The error Numba raises when a kernel loaded from a warm cache starts the threading layer:
    its traceback passes through numba/core/caching.py, which the cache test looks for."""
    namespace: dict = {}
    exec(compile(f"def load():\n    raise ValueError({message!r})\n", "/numba/core/caching.py", "exec"), namespace)
    try:
        namespace["load"]()
    except ValueError as error:
        frames = traceback.walk_tb(error.__traceback__)
        assert any(frame.f_code.co_filename.endswith("caching.py") for frame, _ in frames)
        return error
    raise AssertionError("unreachable")


LAYER_CASES = {
    "unknown": ("junk", "The threading layer requested 'junk' is unknown to Numba.",
                r"NUMBA_THREADING_LAYER='junk' is not a layer Numba knows: set it to one of default, safe, "
                r"threadsafe, forksafe, tbb, omp, workqueue, or unset it"),
    "missing TBB": ("tbb", "No threading layer could be loaded.\nHINT:\nIntel TBB is required, try:\n$ pip install tbb",
                    r"NUMBA_THREADING_LAYER='tbb' names a threading layer that cannot start on this machine .*"
                    r"unset it, or set it to workqueue .* default, safe, threadsafe"),
}


@pytest.mark.skipif(cpu.MISSING is not None and not isinstance(cpu.MISSING, cpu.UnavailableError),
                    reason="numba not installed")
@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_a_threading_layer_that_cannot_start_names_the_variable_not_the_cache(monkeypatch, case):
    """With a warm kernel cache, a bad NUMBA_THREADING_LAYER used to be reported as a damaged
    cache ("delete ... to recompile them"). (tests/test_environment.py runs the cold-cache case
    in a subprocess; warming a cache there costs a compile, so the warm case is built here.)"""
    layer, message, hint = LAYER_CASES[case]
    monkeypatch.setenv("NUMBA_THREADING_LAYER", layer)
    failure = cpu._failure(_numba_error_in_caching_py(message))
    assert re.search(hint, failure.hint), failure.hint
    assert "delete" not in failure.hint and "\n" not in str(failure)  # one log line


def test_a_damaged_cache_still_says_delete(monkeypatch):
    monkeypatch.delenv("NUMBA_THREADING_LAYER", raising=False)
    failure = cpu._failure(_numba_error_in_caching_py("unexpected end of data"))
    assert failure.hint.startswith("the kernel cache may be damaged: delete")


# --- NetTrain's options --------------------------------------------------------------------------

NAN, INF, HUGE, VAST = math.nan, math.inf, 10**400, 10**5000  # HUGE: beyond a float; VAST: beyond int->str
HUGE_TEXT = "1000000000000"  # the start of HUGE's repr
VAST_TEXT = "an integer of 5001 digits"
TMP = "<tmp>"  # replaced by a temporary directory

#: (option, bad value, text the message shows for the value, a word of what is expected)
BAD_OPTIONS = [
    *[("BatchSize", v, t, "positive integer") for v, t in
      [(0, "0"), (-1, "-1"), (1.5, "1.5"), (NAN, "nan"), (INF, "inf"), (True, "True"), ("x", "'x'"), (None, "None")]],
    *[("MaxTrainingRounds", v, t, "positive integer") for v, t in
      [(0, "0"), (-3, "-3"), (2.5, "2.5"), (NAN, "nan"), (INF, "inf"), (False, "False"), ("x", "'x'"),
       (HUGE, HUGE_TEXT), (VAST, VAST_TEXT), (2**53 + 1, str(2**53 + 1))]],
    *[("LearningRate", v, t, "positive number") for v, t in
      [(0, "0"), (-1, "-1"), (NAN, "nan"), (INF, "inf"), (True, "True"), ("x", "'x'"), (HUGE, HUGE_TEXT),
       (VAST, VAST_TEXT), (None, "None")]],
    *[("LearningRateMultipliers", v, t, "numbers") for v, t in
      [(NAN, "nan"), (INF, "inf"), ("x", "'x'"), (HUGE, HUGE_TEXT), (VAST, VAST_TEXT), (True, "True"),
       ({1: NAN}, "nan"), ({2: "x"}, "'x'"), ({1: HUGE}, HUGE_TEXT), ({1: True}, "True"), ([(1, -INF)], "-inf"),
       ]],
    ("LearningRateMultipliers", [(1,)], "(1,)", "(part, value) rules"),
    ("LearningRateMultipliers", [1, 2], "1", "(part, value) rules"),
    *[("Method", v, t, w) for v, t, w in [
        ("X", "'X'", "one of ADAM"), (3, "3", "one of ADAM"), (VAST, VAST_TEXT, "one of ADAM"),
        (("ADAM", "x"), "('ADAM', 'x')", "one of ADAM"),
        (("ADAM", {"Beta1": NAN}), "nan", "between 0"), (("ADAM", {"Beta2": 1}), "1", "between 0"),
        (("ADAM", {"Beta1": HUGE}), HUGE_TEXT, "between 0"), (("ADAM", {"Epsilon": INF}), "inf", "positive finite"),
        (("ADAM", {"Epsilon": HUGE}), HUGE_TEXT, "positive finite"), (("ADAM", {"Epsilon": 0}), "0", "positive"),
        (("SGD", {"Momentum": True}), "True", "between 0"), (("RMSProp", {"Beta": -0.1}), "-0.1", "between 0"),
        (("ADAM", {"L2Regularization": -1}), "-1", "non-negative"),
        (("ADAM", {"L2Regularization": NAN}), "nan", "non-negative"),
        (("ADAM", {"L2Regularization": HUGE}), HUGE_TEXT, "non-negative"),
        (("ADAM", {"L2Regularization": {1: INF}}), "inf", "non-negative"),
        (("ADAM", {"GradientClipping": NAN}), "nan", "positive number"),
        (("ADAM", {"GradientClipping": 0}), "0", "positive number"),
        (("ADAM", {"GradientClipping": True}), "True", "positive number"),
        (("ADAM", {"GradientClipping": {1: HUGE}}), HUGE_TEXT, "positive number"),
        (("ADAM", {"GradientClipping": [(1, -1)]}), "-1", "positive number"),
        (("ADAM", {"WeightClipping": {1: "x"}}), "'x'", "positive number"),
        (("ADAM", {"WeightClipping": -INF}), "-inf", "positive number"),
        (("ADAM", {"LearningRate": HUGE}), HUGE_TEXT, "positive number"),
        (("ADAM", {"LearningRate": -1}), "-1", "positive number"),
        (("ADAM", {"LearningRate": [(1, 0.1)]}), "[(1, 0.1)]", "LearningRateMultipliers"),
        (("SGD", {"LearningRateSchedule": "x"}), "'x'", "Polynomial"),
        (("ADAM", {"Beta": 0.5}), "'Beta'", "sub-options"), (("ADAM", {VAST: 1}), VAST_TEXT, "sub-options"),
    ]],
    *[("TimeGoal", v, t, "positive number of seconds") for v, t in
      [(0, "0"), (-1, "-1"), (NAN, "nan"), (True, "True"), ("x", "'x'"), (HUGE, HUGE_TEXT), (-INF, "-inf")]],
    *[("TrainingStoppingCriterion", v, t, w) for v, t, w in [
        ("x", "'x'", '"Loss"'), (3, "3", '"Loss"'), (True, "True", '"Loss"'),
        ({"Improvement": ("AbsoluteChange", "x")}, "'x'", "finite number v >= 0"),
        ({"Improvement": ("AbsoluteChange", NAN)}, "nan", "finite number v >= 0"),
        ({"Improvement": ("AbsoluteChange", -1)}, "-1", "finite number v >= 0"),
        ({"Improvement": ("AbsoluteChange", INF)}, "inf", "finite number v >= 0"),
        ({"Improvement": ("AbsoluteChange", HUGE)}, HUGE_TEXT, "finite number v >= 0"),
        ({"Improvement": ("AbsoluteChange", True)}, "True", "finite number v >= 0"),
        ({"Improvement": ("RelativeChange", NAN)}, "nan", "0 <= v < 1"),
        ({"Improvement": ("RelativeChange", 1)}, "1", "0 <= v < 1"),
        ({"Improvement": ("RelativeChange", -0.5)}, "-0.5", "0 <= v < 1"),
        ({"Improvement": ("Change", 0.1)}, "('Change', 0.1)", "AbsoluteChange"),
        ({"Improvement": ("AbsoluteChange",)}, "('AbsoluteChange',)", "AbsoluteChange"),
        ({"Improvement": "x"}, "'x'", "AbsoluteChange"),
        ({"Patience": -1}, "-1", "count of rounds"), ({"Patience": 1.5}, "1.5", "count of rounds"),
        ({"Patience": True}, "True", "count of rounds"), ({"InitialPatience": NAN}, "nan", "count of rounds"),
        ({"Patience": VAST}, VAST_TEXT, "count of rounds"), ({"InitialPatience": "3"}, "'3'", "count of rounds"),
        ({"Criterion": "x"}, "'x'", '"Loss" or a function'), ({"Criterion": 3}, "3", '"Loss" or a function'),
        ({"Bogus": 1}, "Bogus", "Criterion, Patience"), ({VAST: 1}, VAST_TEXT, "Criterion, Patience"),
    ]],
    *[("ValidationSet", v, t, w) for v, t, w in [
        (Scaled(NAN), "nan", "0 < f < 1"), (Scaled(INF), "inf", "0 < f < 1"), (Scaled(-1), "-1", "0 < f < 1"),
        (Scaled(0), "0", "0 < f < 1"), (Scaled(1), "1", "0 < f < 1"), (Scaled(HUGE), HUGE_TEXT, "0 < f < 1"),
        (Scaled("x"), "'x'", "0 < f < 1"), (Scaled(True), "True", "0 < f < 1"), (Scaled(None), "None", "0 < f < 1"),
        ("x", "'x'", "Scaled(f)"), (3, "3", "Scaled(f)"), (True, "True", "Scaled(f)"),
        (Automatic, "Automatic", "Scaled(f)"),
    ]],
    *[("LossFunction", v, t, w) for v, t, w in [
        ((MeanSquaredLossLayer(), Scaled(-1)), "-1", "r >= 0"),
        ((MeanSquaredLossLayer(), Scaled(NAN)), "nan", "r >= 0"),
        ((MeanSquaredLossLayer(), Scaled(INF)), "inf", "r >= 0"),
        ((MeanSquaredLossLayer(), Scaled(HUGE)), HUGE_TEXT, "r >= 0"),
        ((MeanSquaredLossLayer(), Scaled(True)), "True", "r >= 0"),
        ((MeanSquaredLossLayer(), Scaled("x")), "'x'", "r >= 0"),
        ({"Output": Scaled(NAN)}, "nan", "r >= 0"), ({"Output": Scaled(-2)}, "-2", "r >= 0"),
        ({"Output": (MeanSquaredLossLayer(), Scaled(-0.5))}, "-0.5", "r >= 0"),
        ([(MeanSquaredLossLayer(), Scaled(1e300)), ((MeanSquaredLossLayer(), Scaled(1e300)), Scaled(1e300))],
         "inf", "finite"),
        (Scaled(-1), "Scaled(-1)", "Automatic, a loss layer"), ("x", "'x'", "Automatic, a loss layer"),
        (3, "3", "Automatic, a loss layer"), (VAST, VAST_TEXT, "Automatic, a loss layer"),
        ({"Out": MeanSquaredLossLayer()}, "'Out'", "output ports"),
        ({"Output": 3}, "3", "loss layer, Automatic, Scaled(r)"),
    ]],
    *[("RandomSeeding", v, t, w) for v, t, w in [
        (NAN, "nan", "integer, a string"), (1.5, "1.5", "integer, a string"), (True, "True", "integer, a string"),
        (None, "None", "integer, a string"), ([1], "[1]", "integer, a string"), (VAST, "too long", "shorter integer"),
    ]],
    *[("WorkingPrecision", v, t, '"Real32"') for v, t in [("x", "'x'"), (3, "3"), (None, "None"), (True, "True")]],
    *[("TargetDevice", v, t, w) for v, t, w in [
        ("x", "'x'", '"CPU", "GPU"'), (3, "3", '"CPU", "GPU"'), (None, "None", '"CPU", "GPU"'),
        (("CPU", 0), "('CPU', 0)", "positive number of processes"), (("CPU", -1), "('CPU', -1)", "positive number"),
        (("CPU", True), "('CPU', True)", "positive number"), (("CPU", 1.5), "('CPU', 1.5)", "positive number"),
        (("CPU", HUGE), HUGE_TEXT, "at most 1024"), (("CPU", VAST), f"('CPU', {VAST_TEXT})", "at most 1024"),
        (("GPU", 0), "('GPU', 0)", "n from 1"), (("GPU", NAN), "('GPU', nan)", "n from 1"),
    ]],
    *[("TrainingProgressReporting", v, t, '"ProgressIndicator"') for v, t in [("x", "'x'"), (3, "3"), (True, "True")]],
    *[("TrainingProgressFunction", v, t, "None or a function") for v, t in [("x", "'x'"), (3, "3"), (True, "True")]],
    *[("TrainingProgressCheckpointing", v, t, w) for v, t, w in [
        (3, "3", "a directory"), (True, "True", "a directory"), (("Directory",), "('Directory',)", "a directory"),
        (("File", 3), "('File', 3)", "a directory"), (("X", TMP), "'X'", "a directory"),
        *[(("Directory", TMP, {"Interval": v}), t, "Interval") for v, t in
          [(0, "0"), (NAN, "nan"), (-1, "-1"), ("x", "'x'"), (True, "True")]],
        (("Directory", TMP, 3), "3", "dict"),
    ]],
]


def _net():
    return NetInitialize(NetChain([LinearLayer(3), LinearLayer(1)], Input=2), RandomSeeding=1)


def _data():
    x = np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32)
    return x, x[:, :1] * 2


def _substitute(value, directory: str):
    if isinstance(value, tuple):
        return tuple(_substitute(v, directory) for v in value)
    return directory if isinstance(value, str) and value == TMP else value


def _case_id(case) -> str:
    option, value, *_ = case
    return f"{option}-{shown(value, 50)}"


@pytest.mark.parametrize("case", BAD_OPTIONS, ids=[_case_id(case) for case in BAD_OPTIONS])
def test_a_bad_option_is_refused_before_the_first_round(tmp_path, case):
    option, value, value_text, expected = case
    calls = []
    given = {option: _substitute(value, str(tmp_path / "checkpoints"))}
    if option != "TrainingProgressFunction":
        # Stops a run that a regression let start: a value like MaxTrainingRounds=2**53 + 1 must not hang.
        given["TrainingProgressFunction"] = lambda progress: calls.append(progress["Round"]) or "StopTraining"
    if option == "TrainingStoppingCriterion":
        given["ValidationSet"] = Scaled(0.25)  # (else a warning that it watches the training loss)
    given.setdefault("MaxTrainingRounds", 2)
    given.setdefault("TrainingProgressReporting", None)
    with pytest.raises(NetOptionError) as raised:
        NetTrain(_net(), _data(), **given)
    message = str(raised.value)
    # (the checkpointing sub-options' messages say 'the checkpointing "Interval"')
    assert option in message or option == "TrainingProgressCheckpointing" and "checkpointing" in message, message
    assert value_text in message, message
    assert expected in message, message
    assert len(message) < 1000
    assert calls == []
    assert not (tmp_path / "checkpoints").exists() or not any((tmp_path / "checkpoints").iterdir())


#: Edge values that are good: each trains (two rounds), and what it gives.
GOOD_OPTIONS = [
    ("BatchSize", HUGE, lambda r: r["BatchSize"] == 8),  # a BatchSize beyond the data is the data
    ("TimeGoal", INF, lambda r: r["TotalRounds"] == 2),  # no time limit
    ("TrainingStoppingCriterion", {"Improvement": ("RelativeChange", 0), "Patience": 2**53}, lambda r: True),
    ("TrainingStoppingCriterion", {"Improvement": ("AbsoluteChange", 1e300)}, lambda r: True),
    ("LossFunction", (MeanSquaredLossLayer(), Scaled(0)), lambda r: r["RoundLoss"] == 0),  # reported, not trained
    ("LossFunction", {"Output": (MeanSquaredLossLayer(), Scaled(np.float32(0.5)))}, lambda r: True),
    ("LearningRateMultipliers", {1: None, 2: np.float64(0.5)}, lambda r: True),
    ("RandomSeeding", HUGE, lambda r: True),
    ("TargetDevice", ("CPU", 1), lambda r: r["TargetDevice"] == "CPU"),
    ("ValidationSet", Scaled(np.float32(0.25)), lambda r: True),
    ("Method", ("SGD", {"Momentum": None, "L2Regularization": 0, "LearningRate": Automatic}), lambda r: True),
]


@pytest.mark.parametrize("case", GOOD_OPTIONS, ids=[_case_id(case) for case in GOOD_OPTIONS])
def test_edge_values_that_are_good_train(case):
    option, value, check = case
    given = {option: value}
    if option == "TrainingStoppingCriterion":
        given["ValidationSet"] = Scaled(0.25)
    results = NetTrain(_net(), _data(), All, MaxTrainingRounds=2, TrainingProgressReporting=None, **given)
    assert results["TotalRounds"] <= 2 and check(results)


def test_options_are_checked_before_the_data():
    """A bad option is reported even when the data is bad too: options come first."""
    with pytest.raises(NetOptionError, match=r"Improvement"):
        NetTrain(_net(), "not data", TrainingStoppingCriterion={"Improvement": ("AbsoluteChange", "x")})
    with pytest.raises(NetOptionError, match=r"Scaled\(f\) needs 0 < f < 1"):
        NetTrain(_net(), "not data", ValidationSet=Scaled(NAN))


def test_messages_of_vast_integers_never_fail():
    """Python refuses to turn an int of over 4300 digits into text; the messages say its size."""
    assert shown(VAST) == VAST_TEXT and shown(-VAST) == VAST_TEXT
    assert shown(10**4299) == repr(10**4299)[:79] + "\u2026"
    assert shown(Scaled(VAST)) == "a Scaled that cannot be shown"
    assert shown(("CPU", VAST)) == f"('CPU', {VAST_TEXT})" and shown([VAST]) == f"[{VAST_TEXT}]"
    assert shown((VAST,)) == f"({VAST_TEXT},)" and shown({VAST: [1]}) == f"{{{VAST_TEXT}: [1]}}"
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # no limit: the true counts
    try:
        numbers = [n for d in (1, 2, 9, 10, 19, 20, 4300, 4301, 9999) for n in (10 ** (d - 1), 10**d - 1, 7 * 10**d)]
        counts = [len(str(n)) for n in numbers]
    finally:
        sys.set_int_max_str_digits(limit)
    assert [errors._digits(n) for n in numbers] == counts
