"""The environment variables wlnet reads, each parsed in this one place by its entry in
:data:`VARIABLES`, and the one fact about the machine their defaults derive from
(:func:`last_level_cache`).

* ``WLNET_STREAM_MIN_BYTES``: a whole number of bytes, ``0`` to ``2**63 - 1``; outputs at least
  this big are written with non-temporal stores. ``0`` (or unset) means half the last-level cache.
* ``WLNET_HUGE_PAGES``: ``1`` (default) or ``0``, also ``true``/``false``, ``yes``/``no``,
  ``on``/``off`` (any case): whether big fresh outputs are advised to Linux as huge pages.
* ``WLNET_OUTPUT_POOL_BYTES``: a whole number of bytes, ``0`` to ``2**63 - 1``; at most this much
  memory of freed big outputs is kept for the next ones (:mod:`wlnet.kernels.pool`); 2 GiB unset,
  ``0`` off.
* ``WLNET_COMPILE_IN_BACKGROUND``: a flag as above, default ``1``: the kernels compile in a
  background thread while PyTorch's ops serve the calls (:mod:`wlnet.kernels`).
* ``WLNET_REUSE_MEMORY``: a flag as above, default ``0``: ``1`` calls
  :func:`wlnet.kernels.memory.reuse_memory` when wlnet is imported.

A value wlnet cannot read never fails an import or an evaluation: it gives one
:class:`SettingWarning` per variable and process, naming the variable, the value and what it
accepts, and the default is used. Unreadable values include an empty one (as Numba treats its own
variables), signs, decimal points, exponents, units, digits other than ASCII ``0``-``9``, and
numbers beyond ``2**63 - 1`` (whatever their length: the digits are counted before Python
converts them, so a value of thousands of digits cannot hit Python's limit on integer conversion).
Each variable is read once per process, when it is first needed (at the first fused kernel call;
``WLNET_REUSE_MEMORY`` at import), and the module that uses it keeps the value.

>>> flag("WLNET_HUGE_PAGES", True, environ={"WLNET_HUGE_PAGES": "off"})
False
>>> whole_bytes("WLNET_STREAM_MIN_BYTES", 0, environ={})
0
>>> read("WLNET_OUTPUT_POOL_BYTES", environ={"WLNET_OUTPUT_POOL_BYTES": " 4096 "})
4096
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import warn

__all__ = ["MAX_BYTES", "VARIABLES", "SettingWarning", "Variable", "flag", "largest_cache", "last_level_cache",
           "read", "whole_bytes"]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
#: The largest byte count a variable takes: what a signed 64-bit size holds.
MAX_BYTES = 2**63 - 1
_warned: set[str] = set()


@dataclass(frozen=True)
class Variable:
    """One ``WLNET_*`` environment variable: a ``"bytes"`` count or a ``"flag"``, and its default."""

    name: str
    kind: str
    default: int | bool
    meaning: str


#: Every environment variable wlnet reads, by name (see the module doc).
VARIABLES = {
    variable.name: variable
    for variable in (
        Variable("WLNET_STREAM_MIN_BYTES", "bytes", 0,
                 "outputs of at least this many bytes skip the cache; 0: half the last-level cache"),
        Variable("WLNET_HUGE_PAGES", "flag", True, "advise big fresh outputs to Linux as huge pages"),
        Variable("WLNET_OUTPUT_POOL_BYTES", "bytes", 2 << 30,
                 "bytes of freed big outputs kept for the next ones; 0: none"),
        Variable("WLNET_COMPILE_IN_BACKGROUND", "flag", True,
                 "compile the kernels in a background thread while PyTorch's ops run the calls"),
        Variable("WLNET_REUSE_MEMORY", "flag", False, "keep freed memory in the process (glibc's mallopt)"),
    )
}


class SettingWarning(UserWarning):
    """A ``WLNET_*`` environment variable has a value wlnet does not accept; its default is used."""


def _bad(name: str, value: str, accepted: str, default: object) -> None:
    """Warn, once per variable and process, that ``value`` is not one ``name`` accepts."""
    if name in _warned:
        return
    _warned.add(name)
    shown = repr(value) if len(value) <= 40 else f"{value[:30]!r}... ({len(value)} characters)"
    warn(f"wlnet: the environment variable {name}={shown} is not {accepted}; using the default, {default}.",
         SettingWarning)  # pointing at the user's line that first needed the variable


def read(name: str, environ: Mapping[str, str] | None = None) -> int | bool:
    """The variable ``name`` of :data:`VARIABLES`, parsed as its entry says (its default when it
    is unset or unreadable, with a :class:`SettingWarning` for the latter)."""
    variable = VARIABLES[name]
    if variable.kind == "flag":
        return flag(name, bool(variable.default), environ)
    return whole_bytes(name, int(variable.default), environ)


def whole_bytes(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    """The variable ``name`` as a whole number of bytes from 0 to :data:`MAX_BYTES` (ASCII digits
    only, spaces around them allowed), else ``default``."""
    value = (os.environ if environ is None else environ).get(name)
    if value is None:
        return default
    text = value.strip()
    digits = text.lstrip("0") or text[:1]  # "000" is "0"; "" stays empty (unreadable)
    # Counted before int(): thousands of digits would hit Python's limit on integer conversion.
    if re.fullmatch(r"[0-9]{1,19}", digits) and int(digits) <= MAX_BYTES:
        return int(digits)
    _bad(name, value, "a whole number of bytes from 0 to 2**63 - 1 (such as 33554432)", default)
    return default


def flag(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    """The variable ``name`` as a yes/no flag (``1``/``0``, ``true``/``false``, ...), else ``default``."""
    value = (os.environ if environ is None else environ).get(name)
    if value is None:
        return default
    word = value.strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    _bad(name, value, f"one of {', '.join(_TRUE + _FALSE)}", "1" if default else "0")
    return default


@functools.cache
def last_level_cache() -> int:
    """Bytes of the largest CPU cache Linux reports (the L3 here), else 32 MiB: the machine fact
    behind the size defaults (non-temporal stores, PyTorch's kernel for inference). Read once."""
    return largest_cache(Path("/sys/devices/system/cpu/cpu0/cache"))


def largest_cache(caches: Path) -> int:
    """Bytes of the largest cache in a sysfs ``cache`` folder (``index*/size``), else 32 MiB."""
    sizes = []
    for index in caches.glob("index*"):
        try:
            text = (index / "size").read_text().strip()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes, default=32 << 20)
