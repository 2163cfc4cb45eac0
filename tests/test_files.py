"""Export and Import in wlnet's format: what a file holds, and every way a file can be wrong.

The round trip of every kind of net is in the contract table (``test_contract.py``); here: the
file's layout, its elements, damaged and edited files, atomic writing, pickling, checkpoints.
"""

import hashlib
import json
import os
import pickle
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cases import boolean_chain
from netfiles import joined, split
from wlnet import (
    All,
    ElementwiseLayer,
    Export,
    ExportByteArray,
    Import,
    ImportByteArray,
    LinearLayer,
    NetChain,
    NetError,
    NetExtract,
    NetInitialize,
    NetTrain,
    ParametricRampLayer,
    Span,
    Tanh,
)
from wlnet.errors import NetOptionError, NetSpecificationError
from wlnet.files import FORMAT_VERSION, read_net_bytes


def page_net():
    return NetInitialize(boolean_chain())



def edited(data: bytes, edit) -> bytes:
    """The file with its wlnet description changed by ``edit(description)``."""
    header, body = split(data)
    description = json.loads(header["__metadata__"]["wlnet"])
    edit(description)
    text = json.dumps(description)
    header["__metadata__"].update({"wlnet": text, "wlnet.sha256": hashlib.sha256(text.encode()).hexdigest()})
    return joined(header, body)


def test_the_file_is_safetensors_with_arrays_by_path_and_a_json_description():
    from safetensors.numpy import load

    net = page_net()
    data = ExportByteArray(net)
    header, _ = split(data)
    description = json.loads(header["__metadata__"]["wlnet"])
    assert description["Format"] == "wlnet" and description["FormatVersion"] == FORMAT_VERSION
    assert [entry["Key"] for entry in description["Arrays"]] == ["1.Weights", "1.Biases", "2.Slope", "3.Weights",
                                                                 "3.Biases"]
    assert description["Net"]["Layer"] == "NetChain"
    assert description["Net"]["Options"] == {"Input": "Real",
                                             "Output": {"NetDecoder": "Boolean", "Options": {"Dict": []}}}
    tensors = load(data)
    assert set(tensors) == {"1.Weights", "1.Biases", "2.Slope", "3.Weights", "3.Biases"}
    assert tensors["2.Slope"].dtype == np.float32 and tensors["2.Slope"].shape == ()
    assert tensors["1.Weights"].tobytes() == NetExtract(net, [1, "Weights"]).tobytes()


def test_elements(tmp_path):
    net = page_net()
    path = Export(tmp_path / "page.safetensors", net)
    assert Import(path, "Net") == Import(path) == Import(path, ("wlnet", "Net")) == Import(path, "wlnet") == net
    assert list(Import(path, "ArrayAssociation")) == ["1.Weights", "1.Biases", "2.Slope", "3.Weights", "3.Biases"]
    assert Import(path, "WLNetVersion") == "0.1.0" and Import(path, "FormatVersion") == FORMAT_VERSION
    assert Import(path, "UninitializedNet") == NetInitialize(net, None)
    assert Import(path)([-2.0, 0.3, 2.0]) == net([-2.0, 0.3, 2.0])
    with pytest.raises(NetSpecificationError, match="'Arrays' is not an element.*Did you mean ArrayList"):
        Import(path, "Arrays")


def test_a_partly_initialized_net_keeps_which_arrays_it_has(tmp_path):
    net = NetChain([LinearLayer(2, Weights=[[1, 2], [3, 4]], Biases=[0, 1]), ParametricRampLayer()], Input=2)
    back = Import(Export(tmp_path / "partly.safetensors", net))
    assert back == net
    assert Import(tmp_path / "partly.safetensors", "ArrayList")[2] is None
    np.testing.assert_array_equal(NetExtract(back, [1, "Weights"]), [[1, 2], [3, 4]])


def test_extensions_and_formats(tmp_path):
    net = page_net()
    with pytest.raises(NetSpecificationError, match=r"\.wlnet is the Wolfram Language's own binary format"):
        Export(tmp_path / "page.wlnet", net)
    with pytest.raises(NetSpecificationError, match="cannot be told from its extension"):
        Export(tmp_path / "page.bin", net)
    path = Export(tmp_path / "page.bin", net, "wlnet")
    assert Import(path, "wlnet") == net
    with pytest.raises(NetSpecificationError, match="'HDF5' is not a format"):
        Export(tmp_path / "page.h5", net, "HDF5")
    with pytest.raises(NetOptionError, match="takes no options"):
        Export(tmp_path / "page.safetensors", net, GraphName="x")
    with pytest.raises(NetSpecificationError, match="should be a net"):
        Export(tmp_path / "page.safetensors", {"a": 1})


def test_a_net_with_python_code_cannot_be_saved_and_says_how_to_fix_it(tmp_path):
    net = ElementwiseLayer(lambda x: torch.tanh(x) * 2, Input=3)
    with pytest.raises(NetSpecificationError, match=r"Python code.*lambda x: 2 \* Tanh\(x\) \+ 1"):
        Export(tmp_path / "f.safetensors", net)
    assert not os.listdir(tmp_path)
    traced = ElementwiseLayer(lambda x: Tanh(x) * 2, Input=3)
    assert Import(Export(tmp_path / "f.safetensors", traced)) == traced


# -- damaged and edited files -------------------------------------------------------------------
@pytest.mark.parametrize("keep", [0, 5, 8, 100, -1])
def test_a_truncated_file_is_refused(keep, tmp_path):
    data = ExportByteArray(page_net())
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[:keep] if keep >= 0 else data[:-3])
    with pytest.raises(NetError, match="truncated|empty"):
        Import(path)


def test_a_changed_byte_in_the_description_is_caught_by_its_checksum():
    net = ElementwiseLayer(lambda x: 2 * Tanh(x) + 3, Input=3)
    header, body = split(ExportByteArray(net))
    header["__metadata__"]["wlnet"] = header["__metadata__"]["wlnet"].replace("3.0", "8.0")
    with pytest.raises(NetError, match="net description does not match its checksum"):
        ImportByteArray(joined(header, body))


def test_a_flipped_byte_in_an_array_is_caught_by_its_checksum():
    data = bytearray(ExportByteArray(page_net()))
    data[-2] ^= 0x10
    with pytest.raises(NetError, match=r'the values of the array "\d\.\w+" do not match their checksum'):
        ImportByteArray(bytes(data))


def test_a_file_that_is_not_safetensors_or_not_a_net_is_refused(tmp_path):
    from safetensors.numpy import save

    with pytest.raises(NetError, match="header is not JSON"):
        ImportByteArray(struct.pack("<Q", 4) + b"\xff\xfe{}")
    plain = save({"weight": np.ones((2, 2), np.float32)})
    with pytest.raises(NetError, match="without wlnet's description.*ArrayAssociation"):
        ImportByteArray(plain)
    np.testing.assert_array_equal(ImportByteArray(plain, "ArrayAssociation")["weight"], np.ones((2, 2)))
    with pytest.raises(NetError, match="cannot be read"):
        Import(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(FormatVersion=FORMAT_VERSION + 1), "version 2 of wlnet's format.*Upgrade wlnet"),
    (lambda d: d.update(FormatVersion="1"), "format version '1' is not a version"),
    (lambda d: d.update(Format="other"), "not a wlnet net description"),
    (lambda d: d.pop("Arrays"), "has no Arrays list"),
    (lambda d: d["Net"]["Arguments"][0][1].update(Layer="DeconvolutionLayer"),
     "'DeconvolutionLayer' is not a wlnet layer"),
    (lambda d: d["Net"]["Arguments"][0][1].update(Arguments=[{"Tuple": [1, 1]}]),
     "level 1 appears twice"),
    (lambda d: d["Net"]["Arguments"][0][0]["Options"].update(Output=4),
     "layer 1 .* outputs a length-4 vector, but layer 2 .* needs a length-3 vector"),
    (lambda d: d["Arrays"][0].update(Key="1.Weight"), "does not list|lists the arrays"),
    (lambda d: d["Arrays"][2].update(Dims=[3]), 'the array "2.Slope" has dims \\(\\)'),
    (lambda d: d["Net"].update(Layer="NetChain", Arguments=[{"Symbol": "Junk"}]), "not a well-formed Symbol"),
    (lambda d: d["Net"].update(Arguments=[[{"Function": "Tanhh"}]]), "'Tanhh' is not a function.*Tanh"),
    (lambda d: d["Net"].update(Arguments=[[{"Eval": "import os"}]]), "'Eval' is not a tag"),
])
def test_a_hand_edited_description_is_refused_with_what_is_wrong(edit, message):
    data = edited(ExportByteArray(page_net()), edit)
    with pytest.raises(NetError, match=message):
        ImportByteArray(data)


def test_tensors_that_do_not_match_the_description_are_refused():
    from safetensors.numpy import load, save

    data = ExportByteArray(page_net())
    header, _ = split(data)
    tensors = load(data)
    tensors["extra"] = np.zeros(2, np.float32)
    with pytest.raises(NetError, match="holds the tensor 'extra', which its description does not list"):
        ImportByteArray(save(tensors, metadata=header["__metadata__"]))
    del tensors["extra"], tensors["2.Slope"]
    with pytest.raises(NetError, match="lacks the array '2.Slope'"):
        ImportByteArray(save(tensors, metadata=header["__metadata__"]))
    tensors["2.Slope"] = np.float64(0.1)
    with pytest.raises(NetError, match="checksum|float64"):
        ImportByteArray(save({k: np.asarray(v) for k, v in tensors.items()}, metadata=header["__metadata__"]))


# -- writing ---------------------------------------------------------------------------------
def test_a_crash_while_writing_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    old, new = page_net(), NetInitialize(ParametricRampLayer(Span(1, 2), Input=(2, 3)))
    path = Export(tmp_path / "net.safetensors", old)

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(NetError, match="Export: cannot write .*net.safetensors: disk full; the file already there is "
                                       "unchanged"):
        Export(path, new)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["net.safetensors"]
    assert Import(path) == old
    assert Import(Export(path, new)) == new


def test_pickling_a_net_sends_its_net_file():
    net = page_net()
    data = pickle.dumps(net)
    assert b"wlnet.layers" not in data and b"ImportByteArray" in data
    assert pickle.loads(data) == net
    with pytest.raises(NetSpecificationError, match="Python code"):
        pickle.dumps(ElementwiseLayer(lambda x: torch.sin(x)))


# -- checkpoints -------------------------------------------------------------------------------
def test_checkpoints_are_net_files_with_the_optimizer_state(tmp_path):
    X = np.random.default_rng(1).standard_normal((8, 3))
    results = NetTrain(NetChain([LinearLayer(3), ParametricRampLayer()], Input=3), (X, -X), All,
                       MaxTrainingRounds=3, BatchSize=4, RandomSeeding=2,
                       TrainingProgressCheckpointing=("Directory", str(tmp_path), {"Interval": 3}))
    (file,) = results["CheckpointingFiles"]
    assert os.path.basename(file) == "checkpoint-round-00003.safetensors"
    assert Import(file) == results["TrainedNet"]
    with open(file, "rb") as handle:
        contents = read_net_bytes(handle.read())
    state = contents.extra["Checkpoint"]
    assert {k: state[k] for k in ("Round", "AbsoluteBatch", "Method", "Step", "Reason", "BatchLossCounts")} == {
        "Round": 3, "AbsoluteBatch": 6, "Method": "ADAM", "Step": 6, "Reason": "MaxTrainingRounds",
        "BatchLossCounts": [2, 2, 2]}
    keys = ["1.Weights", "1.Biases", "2.Slope"]
    assert sorted(contents.extra_tensors) == sorted(
        [f"%optimizer.{s}.{k}" for s in ("m", "v") for k in keys]
        + ["%losses.batch", "%losses.round", "%losses.validation", "%random.torch"])
    np.testing.assert_array_equal(contents.extra_tensors["%losses.round"], results["RoundLossList"])
    for key in keys:
        assert contents.extra_tensors[f"%optimizer.m.{key}"].shape == contents.arrays[key].shape
        assert np.all(contents.extra_tensors[f"%optimizer.v.{key}"] >= 0)
        assert np.any(contents.extra_tensors[f"%optimizer.m.{key}"] != 0)


def test_a_checkpoint_file_must_be_a_net_file():
    with pytest.raises(NetOptionError, match=r"should end in \.safetensors"):
        NetTrain(ParametricRampLayer(Input=2), (np.ones((2, 2)), np.ones((2, 2))), MaxTrainingRounds=1,
                 TrainingProgressCheckpointing=("File", "run.wlnet"))


def test_export_and_import_choose_onnx_by_extension_or_by_name(tmp_path):
    pytest.importorskip("onnxruntime")
    net = page_net()
    path = Export(tmp_path / "page.onnx", net, Description="the page's Boolean net", ModelVersion=3)
    assert Import(path) == net
    assert Import(path, "Description") == "the page's Boolean net" and Import(path, "ModelVersion") == 3
    assert Import(path, ("ONNX", "ProducerName")) == "wlnet"
    copy = Export(tmp_path / "page.model", net, "ONNX")
    assert Import(copy, "ONNX") == net
    with pytest.raises(NetError, match="cannot read .* as an ONNX model"):
        Import(Export(tmp_path / "net.safetensors", net), "ONNX")


DAMAGE = [("flip", st.integers(0, 10**6), st.integers(0, 255)), ("cut", st.integers(0, 10**6)),
          ("drop", st.integers(0, 10**6), st.integers(1, 20))]


@settings(max_examples=300, deadline=None)
@given(how=st.one_of(*(st.tuples(st.just(name), *args) for name, *args in DAMAGE)))
def test_a_damaged_file_loads_as_the_same_net_or_is_refused_with_a_net_error(how):
    net = FUZZED
    data = bytearray(ExportByteArray(net))
    where = how[1] % len(data)
    if how[0] == "flip":
        data[where] = how[2]
    elif how[0] == "cut":
        del data[where:]
    else:
        del data[where:where + how[2]]
    try:
        back = ImportByteArray(bytes(data))
    except NetError:
        return
    assert back == net  # the damage fell where it changes nothing (a byte set to its own value)


FUZZED = NetInitialize(NetChain([LinearLayer(2), ParametricRampLayer(Span(1, 1)),
                                 ElementwiseLayer(lambda x: 2 * Tanh(x) + 3)], Input=3))
