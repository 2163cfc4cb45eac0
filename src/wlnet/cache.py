"""The bounded cache every net carries for what evaluation builds (see :class:`EvaluationCache`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

__all__ = ["EvaluationCache"]


class EvaluationCache:
    """A net's cache of what evaluation builds: specialized nets (one per input type) and lowered
    modules (one per dtype and device). Bounded: beyond :attr:`LIMIT` entries the least recently
    used goes, so that a process that sees many input shapes (sequences of every length, say)
    does not keep a net and a module for each. Safe to use from several threads at once.
    """

    #: Entries kept per net: a few precisions and devices, and the input shapes in use lately.
    LIMIT = 16

    def __init__(self) -> None:
        self._entries: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The entry for ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def __setitem__(self, key: Any, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.LIMIT:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
