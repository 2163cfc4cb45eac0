"""Export and Import: nets in wlnet's own file format (and ONNX, through :mod:`wlnet.onnx`).

wlnet's format is one safetensors file (extension ``.safetensors``; see ``docs/format.md``): its
tensors are the net's initialized arrays, keyed by array path (``"2.Slope"``), stored bit for bit
as float32; its metadata holds, under the key ``"wlnet"``, a JSON description of the net
(:mod:`wlnet.serialize`: layers, options, ports, levels, multipliers, coders), the list of its
arrays with their dims and a SHA-256 of each tensor's bytes, and the format version. Loading
builds the net with its public constructors and never runs code from the file; a truncated,
corrupted or hand-edited file is refused with a :class:`~wlnet.errors.NetError` that says what is
wrong. Files are written under a temporary name in the same directory, synced, then renamed, so a
crash never leaves a half-written file where a net was.

>>> import os, tempfile
>>> from wlnet import NetInitialize, ParametricRampLayer, NetExtract
>>> net = NetInitialize(ParametricRampLayer(Input=3))
>>> path = os.path.join(tempfile.mkdtemp(), "ramp.safetensors")
>>> Export(path, net) == path, Import(path) == net
(True, True)
>>> Import(path, "ArrayAssociation")["Slope"].tolist()
[0.10000000149011612, 0.10000000149011612, 0.10000000149011612]
"""

from __future__ import annotations

import copyreg
import hashlib
import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import NetError, NetOptionError, NetSpecificationError, closest
from .layers.base import Layer
from .lower import array_slots, with_arrays
from .reading import open_regular, read_up_to
from .serialize import LAYER_TYPES, check_nesting, json_net, nesting_error, net_json
from .symbols import Automatic
from .version import __version__
from .writing import write_atomically

__all__ = [
    "FORMAT_VERSION", "Export", "ExportByteArray", "Import", "ImportByteArray", "NetFile", "net_bytes",
    "read_file", "read_header", "read_net_bytes",
]

FORMAT_VERSION = 1  # the version of the description this wlnet writes; it reads this one and older
MAX_HEADER_BYTES = 100_000_000  # the longest safetensors header read: safetensors' own limit (MAX_HEADER_SIZE)
_FORMATS = {"wlnet": ".safetensors", "ONNX": ".onnx"}
_NET_ELEMENTS = ("Net", "UninitializedNet", "ArrayList", "ArrayAssociation", "WLNetVersion", "FormatVersion")
_EXTRA_PREFIX = "%"  # keys of extra tensors (a checkpoint's optimizer state) start with "%" and a
# letter; an array key never does, since every "%" in it is followed by two hex digits (wlnet.lower)


# -- writing -----------------------------------------------------------------------------------------
def net_bytes(net: Layer, extra_tensors: Mapping[str, Any] | None = None, extra: Mapping[str, Any] | None = None
              ) -> bytes:
    """``net`` in wlnet's format, as bytes. ``extra_tensors`` (keys starting with ``"%"`` and a
    letter, e.g. ``"%optimizer.m.2.Slope"``) and ``extra`` (JSON data) travel beside the net:
    NetTrain's checkpoints keep the optimizer state there."""
    from safetensors.numpy import save

    description = net_json(net)
    tensors: dict[str, np.ndarray] = {}
    arrays = []
    for slot in array_slots(net):
        dims = slot.dims
        entry: dict[str, Any] = {"Key": slot.key, "Dims": None if dims is None else list(dims)}
        if slot.value is not Automatic:
            tensors[slot.key] = np.asarray(slot.value, order="C")
            entry["SHA256"] = _digest(tensors[slot.key])
        arrays.append(entry)
    extras = []
    for key, value in (extra_tensors or {}).items():
        if not (key.startswith(_EXTRA_PREFIX) and key[1:2].isalpha()):
            raise NetSpecificationError(
                f"{net._where}: the extra tensor key {key!r} should start with '%' and a letter."
            )
        tensors[key] = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, order="C")
        extras.append({"Key": key, "SHA256": _digest(tensors[key])})
    metadata = {
        "Format": "wlnet", "FormatVersion": FORMAT_VERSION, "WLNetVersion": __version__,
        "Net": description, "Arrays": arrays, "ExtraTensors": extras, "Extra": dict(extra or {}),
    }
    text = json.dumps(metadata, allow_nan=False)
    return save(tensors, metadata={"wlnet": text, "wlnet.sha256": _text_digest(text)})


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(array, order="C").tobytes()).hexdigest()


# -- reading -----------------------------------------------------------------------------------------
@dataclass
class NetFile:
    """What a wlnet file holds, checked: its description, its net without arrays, its arrays by
    key (in ``ArraysPositionList`` order) and the extra tensors and data beside them."""

    metadata: dict
    skeleton: Layer
    arrays: dict[str, np.ndarray]
    extra_tensors: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def net(self) -> Layer:
        """The net with its arrays."""
        return with_arrays(self.skeleton, self.arrays, partial=True) if self.arrays else self.skeleton

    @property
    def extra(self) -> dict:
        return self.metadata.get("Extra", {})


def read_net_bytes(data: bytes, where: str = "the data") -> NetFile:
    """Read and check wlnet's format; ``where`` (the file's name) starts every error message.

    Raises:
        NetError: not a safetensors file, truncated, not a wlnet net, a newer format, a tensor
            that does not match its checksum, arrays that do not match the description, or a
            description that does not describe a net.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise NetError(f"{where}: a net file's contents are bytes, not {type(data).__name__}.")
    data = bytes(data)
    header = _header(data, where)
    metadata = _wlnet_metadata(header, where)
    tensors = _tensors(data, where)
    try:
        arrays, extras = _checked_tensors(metadata, tensors, where)
        skeleton = json_net(metadata["Net"], where)
        _check_arrays(skeleton, metadata["Arrays"], arrays, where)
    except NetError:
        raise
    except RecursionError:  # a backstop: check_nesting refuses deeper descriptions first
        raise NetError(f"{where}: the file's description is nested too deeply to read.") from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as error:  # a description of odd shape
        raise NetError(
            f"{where}: the file's description is malformed ({type(error).__name__}: {error}): it was edited or "
            "damaged."
        ) from None
    return NetFile(metadata, skeleton, arrays, extras)


def _header(data: bytes, where: str) -> dict:
    """The safetensors header (a JSON object after its 8-byte length), checked against the size."""
    if len(data) < 8:
        raise NetError(f"{where}: the file is empty or truncated ({len(data)} bytes): it is not a wlnet net file.")
    (size,) = struct.unpack("<Q", data[:8])
    _check_header_size(size, len(data) - 8, where)
    try:
        header = json.loads(data[8:8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise NetError(f"{where}: the file is not a safetensors file (its header is not JSON), so not a "
                       "wlnet net file.") from None
    if not isinstance(header, dict):
        raise NetError(f"{where}: the file's header is not a JSON object: it is not a wlnet net file.")
    check_nesting(header, f"{where}: the file's header")
    return header


def _check_header_size(size: int, available: int, where: str) -> None:
    """The header's length (the file's first 8 bytes) against the bytes after them and safetensors'
    limit, before anything else is read."""
    if size > available:
        raise NetError(
            f"{where}: the file is truncated: its header says {size} bytes follow, but only "
            f"{available} do. It is not a whole wlnet net file."
        )
    if size > MAX_HEADER_BYTES:
        raise NetError(
            f"{where}: the file's header is {size} bytes long, more than the {MAX_HEADER_BYTES} bytes safetensors "
            "allows: it is not a safetensors file (or it is damaged)."
        )


def _wlnet_metadata(header: dict, where: str) -> dict:
    texts = header.get("__metadata__") or {}
    text = texts.get("wlnet") if isinstance(texts, dict) else None
    if text is None:
        raise NetError(
            f"{where}: the file is a safetensors file without wlnet's description, so it holds arrays "
            'but no net. Import(path, "ArrayAssociation") reads its arrays.'
        )
    if not isinstance(text, str) or texts.get("wlnet.sha256") != _text_digest(text):
        raise NetError(
            f"{where}: the file's net description does not match its checksum: the file is damaged "
            "(or was edited by hand)."
        )
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as error:
        raise NetError(f"{where}: the file's net description is not valid JSON ({error}).") from None
    except RecursionError:  # Python's reader gives up near 1000 levels, beyond check_nesting's limit
        raise NetSpecificationError(nesting_error(f"{where}: the file's net description")) from None
    check_nesting(metadata, f"{where}: the file's net description")
    if not isinstance(metadata, dict) or metadata.get("Format") != "wlnet":
        raise NetError(f"{where}: the file's description is not a wlnet net description.")
    version = metadata.get("FormatVersion")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise NetError(f"{where}: the file's format version {version!r} is not a version of wlnet's format.")
    if version > FORMAT_VERSION:
        raise NetError(
            f"{where}: the file is in version {version} of wlnet's format, written by wlnet "
            f"{metadata.get('WLNetVersion', '?')}; this wlnet ({__version__}) reads versions up to "
            f"{FORMAT_VERSION}. Upgrade wlnet to read it."
        )
    for key, kind in (("Net", dict), ("Arrays", list), ("ExtraTensors", list), ("Extra", dict)):
        if not isinstance(metadata.get(key), kind):
            raise NetError(f"{where}: the file's description has no {key} {kind.__name__}: it was edited or damaged.")
    return metadata


def _tensors(data: bytes, where: str) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    try:
        return load(data)
    except Exception as error:  # safetensors reports damage with its own error types
        raise NetError(f"{where}: the file's tensors cannot be read: it is truncated or damaged ({error}).") from None


def _checked_tensors(metadata: dict, tensors: dict[str, np.ndarray], where: str
                     ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The arrays and the extra tensors, each checked against its SHA-256; every tensor listed once."""
    listed: dict[str, dict] = {}
    for entry in [*metadata["Arrays"], *metadata["ExtraTensors"]]:
        if not isinstance(entry, dict) or not isinstance(entry.get("Key"), str):
            raise NetError(f"{where}: the file's list of arrays has a malformed entry {entry!r}.")
        if "SHA256" in entry:
            listed[entry["Key"]] = entry
    unlisted = sorted(set(tensors) - set(listed))
    absent = [key for key in listed if key not in tensors]
    if unlisted or absent:
        what = (f"holds the tensor {unlisted[0]!r}, which its description does not list" if unlisted
                else f"lacks the array {absent[0]!r}, which its description lists")
        raise NetError(f"{where}: the file {what}: it was edited or damaged.")
    for key, entry in listed.items():
        if _digest(tensors[key]) != entry["SHA256"]:
            raise NetError(
                f'{where}: the values of the array "{key}" do not match their checksum: the file is '
                "damaged (or was edited by hand)."
            )
    extra_keys = {entry["Key"] for entry in metadata["ExtraTensors"]}
    arrays = {entry["Key"]: tensors[entry["Key"]] for entry in metadata["Arrays"] if entry["Key"] in listed}
    return arrays, {key: tensors[key] for key in extra_keys}


def _check_arrays(net: Layer, entries: list[dict], arrays: dict[str, np.ndarray], where: str) -> None:
    """The description's arrays are the net's, in order, with consistent dims; every one float32."""
    slots = array_slots(net)
    keys = [slot.key for slot in slots]
    listed = [entry["Key"] for entry in entries]
    if listed != keys:
        raise NetError(
            f"{where}: the file lists the arrays {listed}, but the net it describes has the arrays "
            f"{keys}: it was edited or damaged."
        )
    for slot, entry in zip(slots, entries):
        array = arrays.get(slot.key)
        if array is None:
            continue
        if array.dtype != np.float32:
            raise NetError(f'{where}: the array "{slot.key}" is {array.dtype}, but a net file holds float32 arrays.')
        expected, dims = slot.known_dims, entry.get("Dims")
        if not isinstance(dims, list) or tuple(array.shape) != tuple(dims) or (
                expected is not None and array.shape != expected):
            raise NetError(
                f'{where}: the array "{slot.key}" has dims {tuple(array.shape)}, but the net it belongs to '
                f"needs {expected if expected is not None else dims}: the file "
                "was edited or damaged."
            )


# -- the Wolfram verbs ---------------------------------------------------------------------------
def Export(path: str | os.PathLike, net: Layer, format: Any = Automatic, **options: Any) -> str:
    """Save ``net`` to a file; return the file's path.

    Wolfram: ``Export["file.ext", net]``, ``Export["file", net, "format"]``.

    Args:
        path: the file. Its extension chooses the format: ``.safetensors`` for wlnet's own
            format (the net with its arrays, see ``docs/format.md``), ``.onnx`` for ONNX.
        net: a layer or container (uninitialized ones too, in wlnet's format).
        format: ``"wlnet"`` or ``"ONNX"`` to choose the format whatever the extension.
        **options: ONNX's export options (``OperatorSetVersion``, ``Description``,
            ``GraphName``, ``ModelVersion``); wlnet's format takes none.

    The file is written under a temporary name and renamed, so a crash never leaves a partly
    written file at ``path``.
    """
    kind = _format(path, format, "Export")
    if os.path.isdir(path):
        raise NetError(f"Export: {os.fspath(path)} is a directory; give the name of a file to write.")
    if not isinstance(net, Layer):
        raise NetSpecificationError(f"Export: the second argument should be a net, but was {type(net).__name__}.")
    if kind == "ONNX":
        from .onnx import export_onnx

        return export_onnx(path, net, **options)
    if options:
        raise NetOptionError(f"Export: wlnet's format takes no options, but {', '.join(options)} were given.")
    return write_atomically(path, net_bytes(net))


def Import(path: str | os.PathLike, element: Any = Automatic) -> Any:
    """Load a net, or one of its elements, from a file.

    Wolfram: ``Import["file.ext"]``, ``Import["file", elem]``, ``Import["file", {"format", elem}]``.

    Args:
        path: a ``.safetensors`` file written by wlnet (or a ``.onnx`` model).
        element: ``"Net"`` (the default: the net with its arrays), ``"UninitializedNet"``,
            ``"ArrayList"`` (the arrays in ``ArraysPositionList`` order, None for one not
            initialized), ``"ArrayAssociation"`` (array path -> array), ``"WLNetVersion"`` (the
            wlnet that wrote it), ``"FormatVersion"``; a format name (``"wlnet"``, ``"ONNX"``); or
            ``(format, element)``. ONNX files have their own elements (see ``docs/onnx.md``).

    Loading runs no code from the file. Raises NetError for a file that is not a whole, unedited
    wlnet net file.
    """
    fmt, element = _import_spec(element)
    kind = _format(path, fmt, "Import")
    if kind == "ONNX":
        from .onnx import import_onnx

        return import_onnx(path, "Net" if element is Automatic else element)
    where = f"Import: {os.fspath(path)}"
    return _element(read_file(path, where), element, where)


def read_file(path: str | os.PathLike, where: str) -> bytes:
    """The bytes of the net file ``path`` (a symlink is followed); every net and checkpoint is read here.

    Only a regular file is read (:func:`wlnet.reading.open_regular`: a FIFO, a device, a socket or a
    directory is refused before it is opened, and the open file is checked again). The safetensors
    header's length is checked against the file's size and safetensors' limit
    (:data:`MAX_HEADER_BYTES`) before the rest is read, and no more than the file's size is read.

    Raises:
        NetError: starting with ``where``: the file cannot be read, is not a regular file, or its
            header claims more bytes than it has.
    """
    return _read(path, where, header_only=False)


def read_header(path: str | os.PathLike, where: str) -> dict:
    """The safetensors header of the file ``path`` alone (the net's description and the tensors'
    places), read with :func:`read_file`'s checks, without the tensors.

    Raises:
        NetError: as :func:`read_file`'s; a header that is not a JSON object.
    """
    return _header(_read(path, where, header_only=True), where)


def _read(path: str | os.PathLike, where: str, header_only: bool) -> bytes:
    fd, info = open_regular(path, where)
    try:
        head = read_up_to(fd, 8)
        if len(head) == 8:
            size = struct.unpack("<Q", head)[0]
            _check_header_size(size, info.st_size - 8, where)
            if header_only:
                return head + read_up_to(fd, size)
        return head + read_up_to(fd, info.st_size - len(head))
    except OSError as error:
        raise NetError(f"{where}: the file cannot be read ({error.strerror or error}).") from None
    finally:
        os.close(fd)


def ExportByteArray(net: Layer, format: str = "wlnet") -> bytes:
    """``net`` in wlnet's format as bytes (Wolfram: ``ExportByteArray[net, "WLNet"]``); for a
    database, a message queue, or another process."""
    if format != "wlnet":
        raise NetSpecificationError(f'ExportByteArray: the format should be "wlnet", not {format!r}.')
    if not isinstance(net, Layer):
        raise NetSpecificationError(
            f"ExportByteArray: the first argument should be a net, but was {type(net).__name__}."
        )
    return net_bytes(net)


def ImportByteArray(data: bytes, element: Any = Automatic) -> Any:
    """The net (or an element, as in :func:`Import`) from bytes written by :func:`ExportByteArray`."""
    fmt, element = _import_spec(element)
    if fmt not in (Automatic, "wlnet"):
        raise NetSpecificationError(f'ImportByteArray: the format should be "wlnet", not {fmt!r}.')
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise NetError(f"ImportByteArray: the data should be bytes (from ExportByteArray), not {type(data).__name__}.")
    return _element(bytes(data), element, "ImportByteArray")


def _pickled(net: Layer) -> tuple:
    """How pickle sends a net (to another process, say): as its net file, read back by
    :func:`ImportByteArray`, so that unpickling a net runs nothing but wlnet's loader."""
    return ImportByteArray, (ExportByteArray(net),)


for _type in LAYER_TYPES.values():
    copyreg.pickle(_type, _pickled)


def _format(path: Any, fmt: Any, verb: str) -> str:
    if fmt is not Automatic:
        for name in _FORMATS:
            if isinstance(fmt, str) and fmt.lower() == name.lower():
                return name
        raise NetSpecificationError(
            f"{verb}: {fmt!r} is not a format wlnet knows.{closest(str(fmt), _FORMATS)} The formats are: "
            f"{', '.join(_FORMATS)}."
        )
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if text is None:
        raise NetSpecificationError(f"{verb}: the file should be a path, but was {type(path).__name__}.")
    for name, extension in _FORMATS.items():
        if str(text).lower().endswith(extension):
            return name
    raise NetSpecificationError(_unknown_extension(str(text), verb))


def _unknown_extension(text: str, verb: str) -> str:
    lowered = text.lower()
    if verb == "Import":
        message = (f"Import: the format of {text!r} cannot be told from its extension; use .safetensors (wlnet's "
                   'format) or .onnx (ONNX), the two formats Import reads, or name the format: Import(path, "wlnet").')
        if lowered.endswith((".pt", ".pth")):
            message += (" wlnet never unpickles, so a PyTorch file is read by PyTorch, then converted: "
                        "model.load_state_dict(torch.load(path)) then from_torch(model, Input=...), or for a whole "
                        "model saved by torch.save(model) and from a source you trust, "
                        "from_torch(torch.load(path, weights_only=False), Input=...).")
    else:
        message = (f"Export: the format of {text!r} cannot be told from its extension; use .safetensors (wlnet's "
                   'format) or .onnx, or name the format: Export(path, net, "wlnet").')
    if lowered.endswith(".wlnet"):
        message += f" (.wlnet is the Wolfram Language's own binary format, which wlnet does not {verb.lower()}.)"
    return message


def _import_spec(element: Any) -> tuple[Any, Any]:
    """(format, element) from Import's second argument."""
    if isinstance(element, tuple) and len(element) == 2:
        return element
    if isinstance(element, str) and element.lower() in {name.lower() for name in _FORMATS}:
        return element, Automatic
    return Automatic, element


def _element(data: bytes, element: Any, where: str) -> Any:
    if element is Automatic:
        element = "Net"
    if element not in _NET_ELEMENTS:
        raise NetSpecificationError(
            f"{where}: {element!r} is not an element of a wlnet file.{closest(str(element), _NET_ELEMENTS)} "
            f"The elements are: {', '.join(_NET_ELEMENTS)}."
        )
    if element == "ArrayAssociation" and "wlnet" not in (_header(data, where).get("__metadata__") or {}):
        return _tensors(data, where)  # a plain safetensors file: its arrays, as they are
    file = read_net_bytes(data, where)
    if element == "Net":
        return file.net
    if element == "UninitializedNet":
        return file.skeleton
    if element == "ArrayList":
        return [file.arrays.get(slot.key) for slot in array_slots(file.skeleton)]
    if element == "ArrayAssociation":
        return dict(file.arrays)
    return file.metadata["WLNetVersion"] if element == "WLNetVersion" else file.metadata["FormatVersion"]
