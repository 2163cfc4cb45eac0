"""NetTrain's optimization methods, with the update rules of MXNet (which Wolfram trains with).

Every array has its own learning rate (the base rate times its LearningRateMultipliers value,
which may be negative: gradient ascent on that array), its own L2 regularization and clipping.
Updates use torch's ``_foreach`` kernels over all arrays at once, so a step costs about what
``torch.optim.Adam(foreach=True)`` does.

Step t (1-based), for each array w with gradient g (the batch-mean loss's gradient):

* g <- g + l2 * w, then g clipped to [-c, c] when GradientClipping is c;
* ADAM: m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
  w <- w - lr_t m / (sqrt(v) + eps), lr_t = lr s(t) sqrt(1 - b2^t) / (1 - b1^t);
* SGD: with momentum mu, d <- mu d - lr s(t) g and w <- w + d; without, w <- w - lr s(t) g;
* RMSProp (the centered form of Graves 2013, MXNet's rmspropalex): n <- b n + (1 - b) g^2;
  gbar <- b gbar + (1 - b) g; d <- mu d - lr s(t) g / sqrt(n - gbar^2 + eps); w <- w + d;
* SignSGD (signum): with momentum mu, d <- mu d - (1 - mu) g and w <- w + lr s(t) sign(d);
  without, w <- w - lr s(t) sign(g);
* then w clipped to [-c, c] when WeightClipping is c.

s(t) is the learning-rate schedule: 1, ``"Polynomial"`` sqrt(1 - min(t, T) / (T + 1)) for T
total steps, or a function f(t, T) returning a number in (0, 1].
"""

from __future__ import annotations

import math

import torch

from .errors import NetOptionError, closest, shown
from .options import real
from .symbols import Automatic

__all__ = ["METHODS", "Optimizer", "parse_method"]

# Method -> (default learning rate, its own sub-options with defaults)
METHODS = {
    "ADAM": (0.001, {"Beta1": 0.9, "Beta2": 0.999, "Epsilon": 1e-5}),
    "SGD": (0.01, {"Momentum": 0.93}),
    "RMSProp": (0.001, {"Beta": 0.95, "Momentum": 0.9, "Epsilon": 1e-6}),
    "SignSGD": (0.01, {"Momentum": 0.93}),
}
COMMON = {
    "LearningRate": None,
    "LearningRateSchedule": None,
    "L2Regularization": None,
    "GradientClipping": None,
    "WeightClipping": None,
}
_UNIT_INTERVAL = ("Beta1", "Beta2", "Beta", "Momentum")


# Common sub-options that are numbers (or per-array rules of numbers): what each value must be.
_COMMON_NUMBERS = {
    "LearningRate": ("a positive number", lambda v: v > 0),
    "L2Regularization": ("a non-negative number", lambda v: v >= 0),
    "GradientClipping": ("a positive number (the bound c of [-c, c])", lambda v: v > 0),
    "WeightClipping": ("a positive number (the bound c of [-c, c])", lambda v: v > 0),
}


def _check_common(method: str, key: str, value) -> None:
    """NetOptionError unless ``value`` (None, a number, or rules ``{part: value}`` / ``[(part, value)]``)
    gives each array None or a finite number of the right sign."""
    wanted, ok = _COMMON_NUMBERS[key]
    if isinstance(value, (dict, list)):
        if key == "LearningRate":
            raise NetOptionError(
                f'NetTrain: the "LearningRate" of Method {method} should be None or {wanted}, '
                f"but was {shown(value, 60)}; "
                "per-array learning rates are given with LearningRateMultipliers."
            )
        rules = value.items() if isinstance(value, dict) else value
        values = [rule[1] for rule in rules if isinstance(rule, tuple) and len(rule) == 2]
    else:
        values = [value]
    for v in values:
        if v is None:
            continue
        number = real(v)
        if number is None or not math.isfinite(number) or not ok(number):
            rules_text = " in its rules" if v is not value else ""
            raise NetOptionError(
                f'NetTrain: the "{key}" of Method {method} should be None or {wanted}{rules_text}, but was {shown(v)}.'
            )


def _check_sub_option(method: str, key: str, value) -> None:
    if key in _COMMON_NUMBERS:
        _check_common(method, key, value)
    elif key in _UNIT_INTERVAL or key == "Epsilon":
        number = real(value)
        ok = number is not None and (0 <= number < 1 if key in _UNIT_INTERVAL else 0 < number < math.inf)
        if not ok and not (key == "Momentum" and value is None):
            wanted = "a positive finite number"
            if key in _UNIT_INTERVAL:
                wanted = "a number between 0 (included) and 1 (excluded)"
            raise NetOptionError(
                f'NetTrain: the "{key}" of Method {method} should be {wanted}, but was {shown(value)}.'
            )


def parse_method(method) -> tuple[str, dict]:
    """Validate NetTrain's Method: a name or (name, {sub-option: value}); fill in the defaults."""
    options = {}
    if isinstance(method, (tuple, list)) and len(method) == 2 and isinstance(method[1], dict):
        method, options = method
    if method is None or method is Automatic or isinstance(method, str) and method == "Automatic":
        method = "ADAM"
    if not isinstance(method, str) or method not in METHODS:
        hint = closest(method, METHODS) if isinstance(method, str) else ""
        raise NetOptionError(
            f"NetTrain: Method should be one of {', '.join(METHODS)}, or (name, {{sub-option: value}}), "
            f"but was {shown(method)}.{hint}"
        )
    lr, own = METHODS[method]
    allowed: dict[str, object] = {**own, **COMMON}
    if method == "SGD":
        allowed["LearningRateSchedule"] = "Polynomial"
    for key, value in options.items():
        if key not in allowed:
            hint = closest(key, allowed) if isinstance(key, str) else ""
            raise NetOptionError(
                f"NetTrain: Method {method} has no sub-option {shown(key)}.{hint} "
                f"Its sub-options are: {', '.join(allowed)}."
            )
        if key == "LearningRate" and value is Automatic:
            options = {**options, key: None}
        else:
            _check_sub_option(method, key, value)
    settings = {**allowed, **options}
    if settings.get("Momentum") is None and "Momentum" in own:
        settings["Momentum"] = 0.0
    schedule = settings["LearningRateSchedule"]
    if not (schedule is None or isinstance(schedule, str) and schedule == "Polynomial" or callable(schedule)):
        raise NetOptionError(
            f'NetTrain: the "LearningRateSchedule" of Method {method} should be None, "Polynomial" or a function '
            f"f(t, T), but was {shown(schedule)}."
        )
    settings["DefaultLearningRate"] = lr
    return method, settings


def _fused_adam_applies(params: list) -> bool:
    """Whether torch's fused ADAM kernel can update ``params``: float32/64 CPU or CUDA tensors,
    all on one device."""
    if not params or not hasattr(torch, "_fused_adam_"):
        return False
    devices = {p.device for p in params}
    dtypes = {p.dtype for p in params}
    one_device = len(devices) == 1 and next(iter(devices)).type in ("cpu", "cuda")
    return one_device and dtypes <= {torch.float32, torch.float64}


class _FusedGroup:
    """The parameters of one learning rate, as torch's fused ADAM kernel takes them: the tensor
    lists of the parameters, their m and v, and step counts (rows: their indices in ``params``)."""

    def __init__(self, lr: float, rows: list[int], optimizer: Optimizer):
        self.lr, self.rows = lr, rows
        self.params = [optimizer.params[i] for i in rows]
        self.m = [optimizer.m[i] for i in rows]
        self.v = [optimizer.v[i] for i in rows]
        self.step = torch.zeros((), dtype=torch.float32)  # the kernel only reads it: one for all
        self.steps = [self.step] * len(rows)


class Optimizer:
    """One optimization method over a list of parameters, each with its own settings.

    Args:
        method: "ADAM", "SGD", "RMSProp" or "SignSGD".
        settings: the method's sub-options (see ``parse_method``).
        params: the parameters to update (their ``.grad`` is read).
        lrs: each parameter's learning rate (base rate times multiplier; may be negative).
        l2, grad_clip, weight_clip: each parameter's L2 coefficient and clipping bounds (None: none).
    """

    def __init__(
        self, method: str, settings: dict, params: list, lrs: list[float], l2: list, grad_clip: list, weight_clip: list
    ):
        self.method = method
        self.settings = settings
        self.params = params
        self.lrs = lrs
        self.l2 = l2
        self.grad_clip = grad_clip
        self.weight_clip = weight_clip
        self.t = 0
        self.total_steps: int | None = None
        zeros = lambda: [torch.zeros_like(p) for p in params]  # noqa: E731
        self._fused_groups: list[_FusedGroup] | None = None  # ADAM on torch's fused kernel
        if method == "ADAM":
            self.m, self.v = zeros(), zeros()
            if _fused_adam_applies(params):
                members: dict[float, list[int]] = {}
                for i, lr in enumerate(lrs):
                    members.setdefault(lr, []).append(i)
                self._fused_groups = [_FusedGroup(lr, rows, self) for lr, rows in members.items()]
        elif method == "RMSProp":
            self.n, self.gbar, self.delta = zeros(), zeros(), zeros()
        elif settings.get("Momentum"):
            self.momentum = zeros()

    def schedule(self) -> float:
        """s(t), the learning-rate factor of the current step."""
        schedule = self.settings["LearningRateSchedule"]
        if schedule is None:
            return 1.0
        total = self.total_steps
        if schedule == "Polynomial":
            if total is None:
                return 1.0
            return math.sqrt(1.0 - min(self.t, total) / (total + 1))
        factor = schedule(self.t, total)
        number = real(factor)
        if number is None or not 0 < number <= 1:
            raise NetOptionError(
                f"NetTrain: the LearningRateSchedule function should return a number in (0, 1], "
                f"but returned {shown(factor)} at step {self.t}."
            )
        return number

    def _gradients(self) -> list:
        grads = []
        for p, l2, clip in zip(self.params, self.l2, self.grad_clip):
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            if l2:
                g = g + l2 * p
            if clip is not None:
                g = g.clamp(-clip, clip)
            grads.append(g)
        return grads

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        t, s, params = self.t, self.schedule(), self.params
        grads = self._gradients()
        settings = self.settings
        if self.method == "ADAM" and self._fused_groups is not None:
            self._fused_adam(grads, s)
        elif self.method == "ADAM":
            b1, b2, eps = settings["Beta1"], settings["Beta2"], settings["Epsilon"]
            torch._foreach_mul_(self.m, b1)
            torch._foreach_add_(self.m, grads, alpha=1 - b1)
            torch._foreach_mul_(self.v, b2)
            torch._foreach_addcmul_(self.v, grads, grads, value=1 - b2)
            denom = torch._foreach_sqrt(self.v)
            torch._foreach_add_(denom, eps)
            factor = s * math.sqrt(1 - b2**t) / (1 - b1**t)
            torch._foreach_addcdiv_(params, self.m, denom, [-lr * factor for lr in self.lrs])
        elif self.method == "SGD":
            steps = torch._foreach_mul(grads, [-lr * s for lr in self.lrs])
            if settings["Momentum"]:
                torch._foreach_mul_(self.momentum, settings["Momentum"])
                torch._foreach_add_(self.momentum, steps)
                torch._foreach_add_(params, self.momentum)
            else:
                torch._foreach_add_(params, steps)
        elif self.method == "RMSProp":
            beta, mu, eps = settings["Beta"], settings["Momentum"], settings["Epsilon"]
            torch._foreach_mul_(self.n, beta)
            torch._foreach_addcmul_(self.n, grads, grads, value=1 - beta)
            torch._foreach_mul_(self.gbar, beta)
            torch._foreach_add_(self.gbar, grads, alpha=1 - beta)
            denom = torch._foreach_addcmul(self.n, self.gbar, self.gbar, value=-1.0)
            torch._foreach_add_(denom, eps)
            torch._foreach_sqrt_(denom)
            torch._foreach_mul_(self.delta, mu)
            torch._foreach_addcdiv_(self.delta, grads, denom, [-lr * s for lr in self.lrs])
            torch._foreach_add_(params, self.delta)
        else:  # SignSGD
            mu = settings["Momentum"]
            if mu:
                torch._foreach_mul_(self.momentum, mu)
                torch._foreach_add_(self.momentum, grads, alpha=-(1 - mu))
                signs = torch._foreach_sign(self.momentum)
                scale = [lr * s for lr in self.lrs]
            else:
                signs = torch._foreach_sign(grads)
                scale = [-lr * s for lr in self.lrs]
            torch._foreach_add_(params, torch._foreach_mul(signs, scale))
        for p, clip in zip(params, self.weight_clip):
            if clip is not None:
                p.clamp_(-clip, clip)

    def _fused_adam(self, grads: list, s: float) -> None:
        """The ADAM step in one fused kernel per learning rate: torch's update
        ``w -= lr/(1 - b1^t) m / (sqrt(v)/sqrt(1 - b2^t) + eps')`` is the MXNet one above when
        eps' = eps / sqrt(1 - b2^t), so only epsilon changes from step to step."""
        settings, t = self.settings, self.t
        b1, b2 = settings["Beta1"], settings["Beta2"]
        eps = settings["Epsilon"] / math.sqrt(1 - b2**t)
        assert self._fused_groups is not None
        for group in self._fused_groups:
            group.step.fill_(t)
            torch._fused_adam_(
                group.params, [grads[i] for i in group.rows], group.m, group.v, [], group.steps,
                lr=group.lr * s, beta1=b1, beta2=b2, weight_decay=0.0, eps=eps, amsgrad=False, maximize=False,
            )

    def state(self) -> dict[str, list[torch.Tensor]]:
        """The method's running statistics by name, one tensor per parameter (in ``params``
        order): ADAM's ``m`` and ``v``, RMSProp's ``n``, ``gbar`` and ``delta``, the ``momentum``
        of SGD and SignSGD with momentum; none for plain SGD. ``t`` is the step count."""
        names = {"ADAM": ("m", "v"), "RMSProp": ("n", "gbar", "delta")}.get(self.method, ("momentum",))
        return {name: getattr(self, name) for name in names if hasattr(self, name)}

    @torch.no_grad()
    def load_state(self, state: dict[str, list[torch.Tensor]], t: int) -> None:
        """Continue from :meth:`state` and the step count ``t`` of an earlier run of the same
        method over the same parameters (a checkpoint's), the values copied in place."""
        mine = self.state()
        if set(state) != set(mine) or any(len(state[k]) != len(mine[k]) for k in mine):
            raise ValueError(f"the {self.method} state has {sorted(mine)}, not {sorted(state)}")
        for name, tensors in mine.items():
            for tensor, value in zip(tensors, state[name]):
                tensor.copy_(value)
        self.t = t

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @property
    def learning_rates(self) -> list[float]:
        """The current effective learning rates (schedule applied), one per parameter."""
        return [lr * self.schedule() for lr in self.lrs]
