"""Hostile files and sizes: nothing hangs, nothing reads or allocates without limit, every failure a NetError.

Files that are not regular files (a FIFO, a device, a directory), headers that claim more than the
file holds, descriptions nested 100,000 deep, dims of 10**30, arrays larger than NumPy makes, an
Export into a read-only directory or onto a full disk, and the permissions of the files wlnet
writes. The cases that could hang or fill the memory if they regressed run in a subprocess with a
timeout and a limit on its address space.
"""

import errno
import hashlib
import json
import os
import pathlib
import re
import resource
import signal
import struct
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save

from wlnet import (
    CatenateLayer,
    ConvolutionLayer,
    Export,
    ExportByteArray,
    Import,
    ImportByteArray,
    Information,
    LinearLayer,
    NetChain,
    NetError,
    NetInitialize,
    NetTrain,
    ParametricRampLayer,
    PoolingLayer,
    ReshapeLayer,
    TotalLayer,
)
from wlnet.errors import NetInitializationError, NetSpecificationError
from wlnet.layers.multiport import MAX_PORTS
from wlnet.serialize import MAX_NESTING

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
NET = NetInitialize(NetChain([LinearLayer(2), ParametricRampLayer()], Input=3))


# -- files that are not regular files, or claim more than they hold ---------------------------------
# Each case runs in one subprocess (a regression blocks or reads without end there, not here): it
# prints the error's type and message, or what it got instead.
SCRIPT = r"""
import json, signal, sys
import numpy as np
from wlnet import Import, NetTrain, NetError

def hung(*args):
    raise TimeoutError("it hung")

signal.signal(signal.SIGALRM, hung)
results = {}
for name, call in [
    ("fifo", lambda d: Import(d + "/fifo.safetensors")),
    ("device", lambda d: Import(d + "/zero.safetensors")),
    ("directory", lambda d: Import(d + "/directory.safetensors")),
    ("huge header", lambda d: Import(d + "/huge-header.safetensors")),
    ("sparse", lambda d: Import(d + "/sparse.safetensors")),
    ("checkpoint fifo", lambda d: NetTrain(d + "/fifo.safetensors", (np.ones((2, 3)), np.ones((2, 2))),
                                           MaxTrainingRounds=1, TrainingProgressReporting=None)),
]:
    signal.alarm(20)  # each case on its own (a blocking open is interrupted), the whole under run's timeout
    try:
        got = call(sys.argv[1])
        results[name] = ["value", repr(got)[:200]]
    except Exception as error:
        results[name] = [type(error).__name__, str(error)[:2000], isinstance(error, NetError)]
    signal.alarm(0)
print(json.dumps(results))
"""


def _limit_memory():  # the subprocess may not use more than 2 GiB of address space (wlnet needs under 1)
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hostile")
    os.mkfifo(directory / "fifo.safetensors")
    os.symlink("/dev/zero", directory / "zero.safetensors")
    (directory / "directory.safetensors").mkdir()
    (directory / "huge-header.safetensors").write_bytes(struct.pack("<Q", 2**60) + b'{"a": 1}')
    with open(directory / "sparse.safetensors", "wb") as file:  # 300 MB on paper, nothing on disk
        file.write(struct.pack("<Q", 200_000_000) + b"{")
        file.truncate(300_000_000)
    process = subprocess.run([sys.executable, "-c", SCRIPT, str(directory)], capture_output=True, text=True,
                             timeout=240, env={**os.environ, "PYTHONPATH": str(SRC)}, preexec_fn=_limit_memory)
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(process.stdout.splitlines()[-1])


@pytest.mark.parametrize("case, message", [
    ("fifo", r"fifo\.safetensors: the file cannot be read \(it is a FIFO \(named pipe\)\); a net file is a regular"),
    ("device", r"zero\.safetensors: the file cannot be read \(it is a character device\)"),
    ("directory", r"directory\.safetensors: the file cannot be read \(Is a directory\)"),
    ("huge header", r"huge-header\.safetensors: the file is truncated: its header says 1152921504606846976 bytes "
                    r"follow, but only 8 do"),
    ("sparse", r"sparse\.safetensors: the file's header is 200000000 bytes long, more than the 100000000 bytes "
               r"safetensors allows"),
    ("checkpoint fifo", r"NetTrain: the checkpoint .*fifo\.safetensors: the file cannot be read \(it is a FIFO"),
])
def test_a_file_that_is_not_a_regular_net_file_is_refused_before_it_is_read(outcomes, case, message):
    kind, text, *is_net_error = outcomes[case]
    assert kind != "value" and is_net_error == [True], outcomes[case]
    assert re.search(message, text), text


def test_a_header_longer_than_safetensors_limit_is_refused_in_bytes_too(monkeypatch):
    import wlnet.files

    assert wlnet.files.MAX_HEADER_BYTES == 100_000_000  # safetensors' MAX_HEADER_SIZE
    monkeypatch.setattr(wlnet.files, "MAX_HEADER_BYTES", 1000)  # the check, without 100 MB of bytes
    with pytest.raises(NetError, match="header is 1001 bytes long, more than the 1000 bytes safetensors allows"):
        ImportByteArray(struct.pack("<Q", 1001) + b" " * 1001)
    with pytest.raises(NetError, match="truncated: its header says 1152921504606846976 bytes follow, but only 2 do"):
        ImportByteArray(struct.pack("<Q", 2**60) + b"{}")


# -- descriptions nested deeply, dims beyond any array ------------------------------------------------
def file_with_description(text: str) -> bytes:
    """A net file whose description is ``text``, its checksum right (as a hostile file's would be)."""
    return save({}, metadata={"wlnet": text, "wlnet.sha256": hashlib.sha256(text.encode()).hexdigest()})


def description(net: dict) -> str:
    return json.dumps({"Format": "wlnet", "FormatVersion": 1, "WLNetVersion": "0", "Net": net, "Arrays": [],
                       "ExtraTensors": [], "Extra": {}})


@pytest.mark.parametrize("depth", [100_000, MAX_NESTING + 100])
def test_a_description_nested_too_deeply_is_refused_naming_the_limit(depth):
    nested = "[" * depth + "]" * depth  # Python's JSON reader gives up near 1000 levels; the check before that
    text = description({"Layer": "NetChain", "Arguments": ["NESTED"]}).replace('"NESTED"', nested)
    with pytest.raises(NetSpecificationError, match=f"the file's net description is nested more than {MAX_NESTING} "
                                                    "levels deep"):
        ImportByteArray(file_with_description(text))


def test_a_safetensors_header_nested_too_deeply_is_refused():
    header = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(NetError, match="header is not JSON|header is nested more than"):
        ImportByteArray(struct.pack("<Q", len(header)) + header)


def test_every_net_export_writes_import_reads_and_deeper_ones_are_refused_on_export():
    net = ParametricRampLayer(Input=3)
    for _ in range(132):  # a description of 398 levels, within the limit
        net = NetChain([net])
    assert ImportByteArray(ExportByteArray(net)) == net
    net = NetChain([net])  # 401 levels
    with pytest.raises(NetSpecificationError, match=f"NetChain: the description of the net is nested more than "
                                                    f"{MAX_NESTING} levels deep"):
        ExportByteArray(net)
    for _ in range(70):  # beyond Python's recursion limit when encoding (a RecursionError before)
        net = NetChain([net])
    with pytest.raises(NetSpecificationError, match=f"nested more than {MAX_NESTING} levels deep"):
        ExportByteArray(net)


def test_a_dimension_of_ten_to_the_thirty_in_a_file_is_refused_naming_the_layer():
    text = description({"Layer": "LinearLayer", "Arguments": [2], "Options": {"Input": 10**30}})
    with pytest.raises(NetSpecificationError, match=r'LinearLayer: the "Input" option: dimension 1 is 10\*\*30, more '
                                                    r"than 2\*\*63 - 1"):
        ImportByteArray(file_with_description(text))


@pytest.mark.parametrize("make, message", [
    (lambda: LinearLayer(10**30), r"LinearLayer: the output size is 10\*\*30"),
    (lambda: LinearLayer(np.uint64(2**64 - 1)), r"LinearLayer: the output size is 18446744073709551615"),
    (lambda: LinearLayer((2**62, 2)), r"LinearLayer: the number of elements of the output size .* is 2\*\*63"),
    (lambda: LinearLayer(3, Input=10**30), r'LinearLayer: the "Input" option: dimension 1 is 10\*\*30'),
    (lambda: LinearLayer(3, Input=2**10**5), r'dimension 1 is about 2\*\*100000'),
    (lambda: NetChain([10**30]), r"LinearLayer: the output size is 10\*\*30"),
    (lambda: ParametricRampLayer(Input=(2**62, 2)),
     r'ParametricRampLayer .*: the "Input" option: the number of elements of dims .* is 2\*\*63'),
    (lambda: ConvolutionLayer(10**30, 3), r"ConvolutionLayer: the number of output channels n is 10\*\*30"),
    (lambda: ConvolutionLayer(3, 10**30), r"ConvolutionLayer: the kernel size is 10\*\*30"),
    (lambda: ConvolutionLayer(3, 2, Stride=10**30), r"ConvolutionLayer: the Stride is 10\*\*30"),
    (lambda: ConvolutionLayer(3, 2, PaddingSize=((0, 10**30),)), r"ConvolutionLayer: the PaddingSize is 10\*\*30"),
    (lambda: PoolingLayer(10**30), r"PoolingLayer: the kernel size is 10\*\*30"),
    (lambda: ReshapeLayer((10**30, 2)), r"ReshapeLayer: entry 1 of the dims is 10\*\*30"),
    (lambda: ReshapeLayer((2**62, 2)), r"ReshapeLayer: the number of elements of the dims .* is 2\*\*63"),
])
def test_a_dimension_beyond_any_array_is_refused_at_construction_naming_the_layer_and_the_limit(make, message):
    with pytest.raises(NetSpecificationError, match=message + r".*more than 2\*\*63 - 1, the largest size"):
        make()


@pytest.mark.parametrize("count", [10**9, 10**30])
def test_a_number_of_input_ports_beyond_any_net_is_refused_before_the_ports_are_made(count):
    # a regression makes 10**9 port names (hours, and all the memory): run under an alarm
    signal.signal(signal.SIGALRM, _hung)
    signal.alarm(20)
    try:
        with pytest.raises(NetSpecificationError, match=f"TotalLayer: InputPorts=.* is more than {MAX_PORTS} ports"):
            TotalLayer(InputPorts=count)
    finally:
        signal.alarm(0)
    assert len(CatenateLayer(InputPorts=MAX_PORTS)._ports) == MAX_PORTS + 1  # and the output


def _hung(*args):
    raise TimeoutError("it hung")


def test_the_largest_dimensions_are_accepted_until_their_arrays_are_made():
    assert Information(LinearLayer(2**63 - 1), "OutputPorts")["Output"] is not None
    net = LinearLayer(2**40, Input=2**40)  # 2**80 weights: a description, until NetInitialize
    assert Information(net, "ArraysTotalElementCount") == 2**80 + 2**40  # not wrapped around in int64
    with pytest.raises(NetInitializationError, match=r'cannot initialize the array "Weights": its dims '
                                                     r"\(1099511627776, 1099511627776\) make 2\*\*80 elements, more "
                                                     r"than 2\*\*60 - 1, the most NumPy can"):
        NetInitialize(net)


def test_an_array_larger_than_the_memory_is_a_net_error_not_a_memory_error():
    # 2**59 float64 draws: 4 EiB, which no computer's address space holds, so the allocation fails at once
    with pytest.raises(NetInitializationError, match=r'"Weights": its dims \(1073741824, 536870912\) make 2\*\*59 '
                                                     r"elements \(2\*\*61 bytes of float32\), more than this computer"):
        NetInitialize(LinearLayer(2**30, Input=2**29))


# -- Export: a read-only directory, a full disk --------------------------------------------------------
def failing(monkeypatch, name, code, after=None):
    """Make ``os.<name>`` (as wlnet.writing calls it) fail with ``code``; ``os.write`` writes part first."""
    import wlnet.writing

    real = getattr(os, name)
    calls = []

    def fake(*args):
        calls.append(args)
        if name == "write" and len(calls) == 1:
            return real(args[0], args[1][: max(1, len(args[1]) // 2)])
        raise OSError(code, os.strerror(code), *(args[:1] if name == "open" else ()))  # open names its file

    monkeypatch.setattr(wlnet.writing.os, name, fake)
    return calls


@pytest.mark.parametrize("name, code, cause", [
    ("write", errno.ENOSPC, "No space left on device: the disk is full"),
    ("fsync", errno.ENOSPC, "No space left on device: the disk is full"),
    ("open", errno.EROFS, r"Read-only file system \(writing in .*\)"),
    ("open", errno.EACCES, r"Permission denied \(writing in .*\)"),
    ("replace", errno.EACCES, "Permission denied"),
])
def test_export_that_cannot_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch, name, code,
                                                                               cause):
    path = Export(tmp_path / "net.safetensors", NET)
    other = NetInitialize(LinearLayer(5, Input=3))
    failing(monkeypatch, name, code)
    with pytest.raises(NetError, match=f"Export: cannot write {re.escape(path)}: {cause}; the file already there is "
                                       "unchanged"):
        Export(path, other)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["net.safetensors"]
    assert Import(path) == NET


def test_onnx_export_onto_a_full_disk_is_a_net_error(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    failing(monkeypatch, "write", errno.ENOSPC)
    with pytest.raises(NetError, match=r"Export: cannot write .*net\.onnx: No space left on device: the disk is full; "
                                       "nothing was written there"):
        Export(tmp_path / "net.onnx", NET)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_export_into_a_read_only_directory(tmp_path):
    directory = tmp_path / "read-only"
    directory.mkdir()
    directory.chmod(0o500)
    try:
        if os.access(directory, os.W_OK):
            pytest.skip("this user (root) may write into a read-only directory")
        with pytest.raises(NetError, match=r"cannot write .*read-only/net\.safetensors: Permission denied"):
            Export(directory / "net.safetensors", NET)
    finally:
        directory.chmod(0o700)


def test_export_below_a_file_names_that_file(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(NetError, match=r"cannot write .*file/net\.safetensors: .* \(.*file\); nothing was written"):
        Export(tmp_path / "file" / "net.safetensors", NET)


# -- permissions: the umask, as open() ----------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = Export(tmp_path / "net.safetensors", NET)
        assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
        os.chmod(path, 0o640)
        Export(path, NET)
        assert os.stat(path).st_mode & 0o777 == 0o640  # as open(path, "wb") keeps an existing file's mode
        pytest.importorskip("onnx")
        onnx_path = Export(tmp_path / "net.onnx", NET)
        assert os.stat(onnx_path).st_mode & 0o777 == 0o666 & ~umask
    finally:
        os.umask(old)


def test_checkpoints_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        NetTrain(LinearLayer(2, Input=3), (np.ones((4, 3)), np.ones((4, 2))), MaxTrainingRounds=2,
                 TrainingProgressCheckpointing=str(tmp_path / "run"), TrainingProgressReporting=None)
    finally:
        os.umask(old)
    files = [path for path in (tmp_path / "run").iterdir() if path.suffix == ".safetensors"]
    assert files and {path.stat().st_mode & 0o777 for path in files} == {0o640}


# -- what Import reads ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["model.pt", "model.PTH"])
def test_import_of_a_pytorch_file_says_what_import_reads_and_how_to_read_it(tmp_path, name):
    with pytest.raises(NetSpecificationError) as caught:
        Import(tmp_path / name)
    text = str(caught.value)
    assert "the two formats Import reads" in text and ".safetensors" in text and ".onnx" in text
    assert "torch.load" in text and "from_torch" in text and "never unpickles" in text
    assert "Export(" not in text
