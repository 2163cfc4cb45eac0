"""The environment variables wlnet reads, parsed in this one place, and the one fact about the
machine their defaults derive from (:func:`last_level_cache`).

* ``WLNET_STREAM_MIN_BYTES``: a whole number of bytes, ``0`` or more; outputs at least this big
  are written with non-temporal stores. ``0`` (or unset) means half the last-level cache.
* ``WLNET_HUGE_PAGES``: ``1`` (default) or ``0``, also ``true``/``false``, ``yes``/``no``,
  ``on``/``off``: whether big fresh outputs are advised to Linux as huge pages.
* ``WLNET_OUTPUT_POOL_BYTES``: a whole number of bytes, ``0`` or more; at most this much memory of
  freed big outputs is kept for the next ones (:mod:`wlnet.kernels.pool`); 2 GiB unset, ``0`` off.

A value wlnet cannot read never fails an import or an evaluation: it gives one
:class:`SettingWarning` per variable and process, naming the variable, the value and what it
accepts, and the default is used. Each variable is read when it is first needed (at the first
fused kernel call), not at import.

>>> flag("WLNET_HUGE_PAGES", True, environ={"WLNET_HUGE_PAGES": "off"})
False
>>> whole_bytes("WLNET_STREAM_MIN_BYTES", 0, environ={})
0
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

__all__ = ["SettingWarning", "flag", "largest_cache", "last_level_cache", "whole_bytes"]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_warned: set[str] = set()


class SettingWarning(UserWarning):
    """A ``WLNET_*`` environment variable has a value wlnet does not accept; its default is used."""


def _bad(name: str, value: str, accepted: str, default: object) -> None:
    """Warn, once per variable and process, that ``value`` is not one ``name`` accepts."""
    if name in _warned:
        return
    _warned.add(name)
    warnings.warn(
        f"wlnet: the environment variable {name}={value!r} is not {accepted}; using the default, {default}.",
        SettingWarning,
        stacklevel=3,
    )


def whole_bytes(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    """The variable ``name`` as a whole number of bytes >= 0 (digits only), else ``default``."""
    value = (os.environ if environ is None else environ).get(name)
    if value is None:
        return default
    if re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    _bad(name, value, "a whole number of bytes, 0 or more (such as 33554432)", default)
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
