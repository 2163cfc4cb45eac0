"""The ports NetTrain feeds, and its data forms read as ``{port: examples}``.

A net with one input port and one output port takes every form: ``(inputs, targets)``, a list of
``(input, target)`` pairs, ``{input: target}``, the port dict ``{"Input": X, "Output": Y}`` and a
list of dicts by port. A net with several input or output ports (a NetGraph) takes the port forms
alone, as in the Wolfram Language: a key for every input port, and a key for every output port
that a loss compares with targets (named after that output port, as Wolfram's target ports are).
Other keys are dropped, as Wolfram drops them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import NetDataError

__all__ = ["Ports", "parse_data"]


@dataclass(frozen=True)
class Ports:
    """The ports of a training run: the net's inputs and outputs, the outputs fed with targets
    (those a loss layer compares with targets; not an output that is itself the loss), and which
    of them take 1-based class indices into the output's last dim (for
    ``CrossEntropyLossLayer("Index")``; given as labels where the output has a Class decoder)."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    targets: tuple[str, ...]
    index: frozenset = frozenset()

    @property
    def simple(self) -> bool:
        """Whether the forms ``(inputs, targets)``, pairs and ``{input: target}`` apply: one input
        port and one target port (or, without targets, one output port)."""
        return len(self.inputs) == 1 and (len(self.targets) == 1 or not self.targets and len(self.outputs) == 1)

    @property
    def target_key(self) -> str:
        """The port the right side of a simple form feeds."""
        return self.targets[0] if self.targets else self.outputs[0]

    @property
    def needed(self) -> tuple[str, ...]:
        """The keys the data must have: every input port, then every target port."""
        return (*self.inputs, *self.targets)


def parse_data(data: Any, ports: Ports, what: str = "the training data") -> dict:
    """Training data in any of NetTrain's forms as ``{port: list or array of examples}``, with the
    keys the run needs (others dropped).

    Raises:
        NetDataError: a form the net cannot take, empty data, a missing port or example value.
    """
    if isinstance(data, dict) and data and all(isinstance(k, str) for k in data):
        missing = [port for port in ports.needed if port not in data]
        if missing:
            raise NetDataError(
                f'NetTrain: {what} has no values for port "{missing[0]}"; it has {list(data)}. '
                f"{_keys_needed(ports)}"
            )
        return {port: data[port] for port in ports.needed}
    if isinstance(data, list) and data and all(isinstance(d, dict) for d in data):
        return {port: [_value(d, port, i, what, ports) for i, d in enumerate(data)] for port in ports.needed}
    if isinstance(data, (list, tuple, dict)) and len(data) == 0:
        raise NetDataError(f"NetTrain: {what} is empty.")
    simple = _simple_form(data)
    if simple is not None and ports.simple:
        return {ports.inputs[0]: simple[0], ports.target_key: simple[1]}
    if simple is not None:
        raise NetDataError(
            f"NetTrain: {what} is given as inputs and targets, which only a net with one input port and one "
            f"output port takes; give a dict of ports instead. {_keys_needed(ports)}"
        )
    if not ports.simple:
        raise NetDataError(
            f"NetTrain: {what} should be a dict of ports, a list of such dicts, or a generator function, "
            f"but was {type(data).__name__}. {_keys_needed(ports)}"
        )
    raise NetDataError(
        f"NetTrain: {what} should be (inputs, targets), a list of (input, target) pairs, a dict "
        f'{{input: target}}, a dict of ports {{"{ports.inputs[0]}": [...], "{ports.target_key}": [...]}}, a list '
        f"of such dicts, or a generator function, but was {type(data).__name__}."
    )


def _simple_form(data: Any) -> tuple[Any, Any] | None:
    """``(inputs, targets)`` of the forms for one input and one output, or None for another form."""
    if isinstance(data, tuple) and len(data) == 2:
        return data[0], data[1]
    if isinstance(data, dict) and data:  # (not every key a string: a port dict is read before)
        return list(data.keys()), list(data.values())
    if isinstance(data, list) and data and all(isinstance(d, tuple) and len(d) == 2 for d in data):
        return [d[0] for d in data], [d[1] for d in data]
    return None


def _keys_needed(ports: Ports) -> str:
    keys = ", ".join(f'"{port}"' for port in ports.needed)
    targets = (f" (the target keys are named after the output ports a loss compares: "
               f"{', '.join(repr(p) for p in ports.targets)})" if ports.targets else "")
    return f"The net needs the keys {keys}{targets}, e.g. {{{', '.join(f'{p!r}: [...]' for p in ports.needed)}}}."


def _value(example: dict, key: str, index: int, what: str, ports: Ports) -> Any:
    if key not in example:
        raise NetDataError(
            f'NetTrain: example {index + 1} of {what} has no value for port "{key}". {_keys_needed(ports)}'
        )
    return example[key]
