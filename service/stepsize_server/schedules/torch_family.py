"""The PyTorch family (SPEC 3.2): torch.optim.lr_scheduler, value for value.

Each type takes the torch constructor's parameters and defaults (minus `optimizer`,
`last_epoch`, `verbose` and the momentum options) plus `base_lr`, the learning rate the
optimizer was built with. `lr(N)` is `scheduler.get_last_lr()[0]` after N calls of
`scheduler.step()`, stepped one by one as torch does (torch 2.13), within 1e-9 relative.

How it is computed. torch's chainable schedulers update the optimizer's *current* lr,
so every `step()` is an affine map of it: `lr_N = A_N * lr_(N-1) + B_N`. Standalone,
each type has a closed form that follows torch's recursion (not the textbook formula:
e.g. CosineAnnealingLR restarts from `eta_min` at each trough, ConstantLR with
`total_iters=0` stays at `factor`). The composites reproduce what torch's constructors
do to the shared param group (each child steps once when built; SequentialLR resets the
lr and restarts a child from its closed form at its milestone) and combine the children
in closed form where one exists; otherwise they step torch's recurrence, vectorized, up
to `STEP_LIMIT` steps (see `torch_recurrence`).

Conventions:

- torch counts integer steps: a fractional local step (under a `fractional` `epochs`
  wrapper) is floored.
- Past the point where torch raises (OneCycleLR beyond `total_steps`), the value holds at
  the last valid step; in a composite the child holds and the others go on.
- Where torch accepts a parameter and only fails later (`T_max=0`, `step_size=0`: division
  by zero at the first step), the definition is rejected up front.
- Children of SequentialLR/ChainedScheduler are built in list order, as
  `SequentialLR(opt, [A(opt, ...), B(opt, ...)], ...)` does; this matters only for
  CyclicLR and OneCycleLR, whose constructors overwrite the group's lr or `initial_lr`.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from .base import Node, NonNegInt, PositiveReal, Rate, max_horizon
from .expressions import Expression, compile_expression
from .torch_recurrence import (
    STEP_LIMIT,
    Absolute,
    Env,
    Stepper,
    TorchComposite,
    TorchNode,
    compose,
)

__all__ = ["TYPES", "TorchComposite", "TorchNode"]


def _must(ok: bool, name: str, rule: str, value: object) -> None:
    """Keras-style argument check."""
    if not ok:
        raise ValueError(f"Argument `{name}` must be {rule}. Received: {name}={value!r}")


def _ints(k: np.ndarray) -> np.ndarray:
    return k.astype(np.int64)


def _cos1(k: np.ndarray | float, period: float) -> np.ndarray:
    """`1 + math.cos(math.pi * k / period)`, as torch writes it."""
    return 1 + np.cos(np.pi * np.asarray(k, dtype=np.float64) / period)


# -- lambda schedulers --------------------------------------------------------------------


def _compile_lambda(text: str, variable: str) -> str:
    compile_expression(text, variable)
    return text


class LambdaLR(Absolute):
    """`lr(N) = base_lr * lr_lambda(N)`, with `lr_lambda` an expression in `epoch`.

    torch: `LambdaLR(optimizer, lr_lambda)`. The seed rule:

    Example definition:

        {"type": "torch.LambdaLR", "base_lr": 0.1, "lr_lambda": "0.5 ** (epoch // 3)"}

    Args:
        base_lr: the optimizer's learning rate.
        lr_lambda: multiplier of `base_lr` at epoch N (SPEC 3.5 expression in `epoch`).
    """

    type: Literal["torch.LambdaLR"] = "torch.LambdaLR"
    lr_lambda: str
    summary = "`base_lr * lr_lambda(epoch)`, the lambda an expression in `epoch`"
    example = {"type": "torch.LambdaLR", "base_lr": 0.1, "lr_lambda": "0.5 ** (epoch // 3)"}

    @field_validator("lr_lambda")
    @classmethod
    def _compiles(cls, v: str) -> str:
        return _compile_lambda(v, "epoch")

    @property
    def compiled(self) -> Expression:
        return compile_expression(self.lr_lambda, "epoch")

    def _value(self, k, env):
        return env.base * self.compiled(k, path=self._path + "/lr_lambda")

    def _settles(self):
        return 0 if self.compiled.is_constant else None


class MultiplicativeLR(TorchNode):
    """`lr(N) = lr(N-1) * lr_lambda(N)`, `lr(0) = base_lr`: `base_lr * prod lr_lambda(1..N)`.

    torch: `MultiplicativeLR(optimizer, lr_lambda)`. A constant lambda is a closed form
    (`base_lr * c ** N`); any other lambda is evaluated by stepping, up to step
    `STEP_LIMIT` (10,000,000).

    Example definition:

        {"type": "torch.MultiplicativeLR", "base_lr": 0.1, "lr_lambda": "0.95"}

    Args:
        base_lr: the optimizer's learning rate.
        lr_lambda: the factor applied at epoch N >= 1 (expression in `epoch`).
    """

    type: Literal["torch.MultiplicativeLR"] = "torch.MultiplicativeLR"
    lr_lambda: str
    summary = "multiplies the current lr by `lr_lambda(epoch)` at every step"
    example = {"type": "torch.MultiplicativeLR", "base_lr": 0.1, "lr_lambda": "0.95"}

    @field_validator("lr_lambda")
    @classmethod
    def _compiles(cls, v: str) -> str:
        return _compile_lambda(v, "epoch")

    @property
    def compiled(self) -> Expression:
        return compile_expression(self.lr_lambda, "epoch")

    def _constant(self) -> float | None:
        c = self.compiled
        return float(c(np.zeros(1))[0]) if c.is_constant else None

    def _restart(self, lr, env):
        # No closed form: `_update_lr(0)` calls get_lr, which multiplies the current lr.
        return float(lr * self._lambda(np.zeros(1))[0])

    def _lambda(self, k: np.ndarray) -> np.ndarray:
        return self.compiled(k, path=self._path + "/lr_lambda")

    def _maps(self, k, env):
        return self._lambda(k), None

    def _factor(self, k0, k):
        c = self._constant()
        return None if c is None else np.power(c, k - k0)

    def _settles(self):
        return 0 if self._constant() == 1.0 else None

    def _limit(self):
        return None if self._constant() is not None else STEP_LIMIT

    def horizon(self, ctx):
        if self.base_lr == 0 or self._constant() == 1.0:
            return 0
        return 1 if self._constant() == 0.0 else None


# -- step decays --------------------------------------------------------------------------


class StepLR(TorchNode):
    """`lr(N) = base_lr * gamma ** (N // step_size)`.

    torch: `StepLR(optimizer, step_size, gamma=0.1)`.

    Example definition:

        {"type": "torch.StepLR", "base_lr": 0.1, "step_size": 30, "gamma": 0.1}

    Args:
        base_lr: the optimizer's learning rate.
        step_size: epochs between decays (> 0; torch divides by it at the first step).
        gamma: multiplicative factor of each decay.
    """

    type: Literal["torch.StepLR"] = "torch.StepLR"
    step_size: int
    gamma: Rate = 0.1
    summary = "`base_lr * gamma ** (epoch // step_size)`"
    example = {"type": "torch.StepLR", "base_lr": 0.1, "step_size": 30, "gamma": 0.1}

    @field_validator("step_size")
    @classmethod
    def _positive(cls, v: int) -> int:
        _must(v > 0, "step_size", "> 0", v)
        return v

    def _maps(self, k, env):
        return np.where(_ints(k) % self.step_size == 0, self.gamma, 1.0), None

    def _factor(self, k0, k):
        s = self.step_size
        n = _ints(k) // s - np.asarray(k0, dtype=np.int64) // s
        return np.power(self.gamma, n.astype(np.float64))

    def _settles(self):
        return 0 if self.gamma == 1 else None

    def horizon(self, ctx):
        if self.base_lr == 0 or self.gamma == 1:
            return 0
        return self.step_size if self.gamma == 0 else None


class MultiStepLR(TorchNode):
    """`lr(N) = base_lr * gamma ** (number of milestones <= N)`.

    torch: `MultiStepLR(optimizer, milestones, gamma=0.1)`. Milestones are counted with
    repetition (a repeated milestone decays twice) in any order; a milestone 0 decays
    the very first value.

    Example definition:

        {"type": "torch.MultiStepLR", "base_lr": 0.1, "milestones": [30, 80], "gamma": 0.1}

    Args:
        base_lr: the optimizer's learning rate.
        milestones: epochs at which the lr is multiplied by `gamma`.
        gamma: multiplicative factor of each decay.
    """

    type: Literal["torch.MultiStepLR"] = "torch.MultiStepLR"
    milestones: list[NonNegInt]
    gamma: Rate = 0.1
    summary = "`base_lr * gamma ** (milestones passed)`, milestones counted with repetition"
    example = {"type": "torch.MultiStepLR", "base_lr": 0.1, "milestones": [30, 80], "gamma": 0.1}

    def _counts(self) -> tuple[np.ndarray, np.ndarray]:
        counter = Counter(self.milestones)
        keys = sorted(counter)
        return np.asarray(keys, dtype=np.float64), np.asarray([counter[m] for m in keys])

    def _passed(self, k: np.ndarray | int) -> np.ndarray:
        return np.searchsorted(np.sort(np.asarray(self.milestones, dtype=np.float64)), k, "right")

    def _initial(self, lr, env):
        zeros = self.milestones.count(0)
        return lr * self.gamma**zeros if zeros else lr

    def _restart(self, lr, env):
        return env.base * self.gamma ** int(self._passed(0))

    def _maps(self, k, env):
        keys, counts = self._counts()
        if not keys.size:
            return np.ones(k.shape), None
        i = np.minimum(np.searchsorted(keys, k), keys.size - 1)
        hit = keys[i] == k
        return np.where(hit, np.power(self.gamma, counts[i].astype(np.float64)), 1.0), None

    def _factor(self, k0, k):
        n = self._passed(k) - self._passed(k0)
        return np.power(self.gamma, np.asarray(n, dtype=np.float64))

    def _settles(self):
        return max(self.milestones) if self.milestones and self.gamma != 1 else 0

    def horizon(self, ctx):
        return 0 if self.base_lr == 0 else self._settles()


class ConstantLR(TorchNode):
    """`lr(N) = base_lr * factor` for N < total_iters, then `base_lr`.

    torch: `ConstantLR(optimizer, factor=1/3, total_iters=5)`; with `total_iters=0` torch's
    recursion stays at `base_lr * factor` forever (its closed form would say `base_lr`).

    Example definition:

        {"type": "torch.ConstantLR", "base_lr": 0.1, "factor": 0.5, "total_iters": 4}

    Args:
        base_lr: the optimizer's learning rate.
        factor: multiplier until `total_iters`, in [0, 1] (0 only with total_iters=0:
            torch divides by it at total_iters).
        total_iters: epochs at the reduced lr.
    """

    type: Literal["torch.ConstantLR"] = "torch.ConstantLR"
    factor: float = 1.0 / 3
    total_iters: int = 5
    summary = "`base_lr * factor` for `total_iters` epochs, then `base_lr`"
    example = {"type": "torch.ConstantLR", "base_lr": 0.1, "factor": 0.5, "total_iters": 4}

    @field_validator("factor")
    @classmethod
    def _factor_range(cls, v: float) -> float:
        _must(0 <= v <= 1, "factor", "between 0 and 1", v)
        return v

    @field_validator("total_iters")
    @classmethod
    def _iters(cls, v: int, info: ValidationInfo) -> int:
        _must(v >= 0, "total_iters", ">= 0", v)
        if v > 0 and info.data.get("factor") == 0:
            raise ValueError(
                "Argument `factor` must be > 0 when total_iters > 0 (torch divides by it "
                f"at epoch total_iters). Received: factor=0.0, total_iters={v}"
            )
        return v

    def _initial(self, lr, env):
        return lr * self.factor

    def _restart(self, lr, env):
        return env.base * (self.factor + (self.total_iters <= 0) * (1 - self.factor))

    def _maps(self, k, env):
        if self.total_iters == 0:
            return np.ones(k.shape), None
        return np.where(k == self.total_iters, 1.0 / self.factor, 1.0), None

    def _factor(self, k0, k):
        t = self.total_iters
        if t == 0:
            return np.ones(k.shape)
        return np.where((np.asarray(k0) < t) & (k >= t), 1.0 / self.factor, 1.0)

    def _settles(self):
        return 0 if self.total_iters == 0 or self.factor == 1 else self.total_iters


class LinearLR(TorchNode):
    """`lr(N) = base_lr * (start_factor + (end_factor - start_factor) * min(N, T) / T)`.

    torch: `LinearLR(optimizer, start_factor=1/3, end_factor=1.0, total_iters=5)` (T is
    `total_iters`; with T=0 the lr stays at `base_lr * start_factor`). Values follow
    torch's recursion, including the rounding residue (about 1e-17 * base_lr) it leaves
    when decaying to `end_factor=0`, except that a negative residue is returned as 0.

    Example definition:

        {"type": "torch.LinearLR", "base_lr": 0.1, "start_factor": 0.01, "total_iters": 500}

    Args:
        base_lr: the optimizer's learning rate.
        start_factor: multiplier at epoch 0, in (0, 1].
        end_factor: multiplier from epoch `total_iters` on, in [0, 1].
        total_iters: epochs of the linear change.
    """

    type: Literal["torch.LinearLR"] = "torch.LinearLR"
    start_factor: float = 1.0 / 3
    end_factor: float = 1.0
    total_iters: int = 5
    summary = "linear multiplier from `start_factor` to `end_factor` over `total_iters`"
    example = {
        "type": "torch.LinearLR",
        "base_lr": 0.1,
        "start_factor": 0.01,
        "total_iters": 500,
    }

    @field_validator("start_factor")
    @classmethod
    def _start(cls, v: float) -> float:
        _must(0 < v <= 1, "start_factor", "in (0, 1]", v)
        return v

    @field_validator("end_factor")
    @classmethod
    def _end(cls, v: float) -> float:
        _must(0 <= v <= 1, "end_factor", "in [0, 1]", v)
        return v

    @field_validator("total_iters")
    @classmethod
    def _iters(cls, v: int) -> int:
        _must(v >= 0, "total_iters", ">= 0", v)
        return v

    def _initial(self, lr, env):
        return lr * self.start_factor

    def _restart(self, lr, env):
        s, e, t = self.start_factor, self.end_factor, self.total_iters
        return env.base * (s + (e - s) * min(t, 0) / t)

    def _denominator(self, k: np.ndarray) -> np.ndarray:
        s, e, t = self.start_factor, self.end_factor, self.total_iters
        return t * s + (k - 1) * (e - s)

    def _ratio(self, k: np.ndarray) -> np.ndarray:
        """torch's multiplier at epoch 1 <= k <= total_iters. Decaying to end_factor=0,
        torch's last one is a rounding residue of about +-1e-17 instead of 0; a negative
        one is taken as 0, so that the lr is never negative."""
        return np.maximum(1.0 + (self.end_factor - self.start_factor) / self._denominator(k), 0)

    def _maps(self, k, env):
        inside = k <= self.total_iters
        with np.errstate(all="ignore"):
            return np.where(inside, self._ratio(np.where(inside, k, 1.0)), 1.0), None

    def _factor(self, k0, k):
        t = self.total_iters
        lo = np.minimum(np.asarray(k0, dtype=np.float64), t)
        hi = np.minimum(k, t)
        # The product telescopes to g(hi)/g(lo), g(x) = T*s + x*(e - s); its last factor
        # is torch's own ratio, so that a decay to end_factor=0 leaves torch's residue.
        with np.errstate(all="ignore"):
            part = self._denominator(hi) / self._denominator(lo + 1) * self._ratio(hi)
        return np.where(hi > lo, part, 1.0)

    def _settles(self):
        same = self.start_factor == self.end_factor
        return 0 if self.total_iters == 0 or same else self.total_iters


class ExponentialLR(TorchNode):
    """`lr(N) = base_lr * gamma ** N`.

    torch: `ExponentialLR(optimizer, gamma)`.

    Example definition:

        {"type": "torch.ExponentialLR", "base_lr": 0.1, "gamma": 0.999}

    Args:
        base_lr: the optimizer's learning rate.
        gamma: multiplicative factor per epoch.
    """

    type: Literal["torch.ExponentialLR"] = "torch.ExponentialLR"
    gamma: Rate
    summary = "`base_lr * gamma ** epoch`"
    example = {"type": "torch.ExponentialLR", "base_lr": 0.1, "gamma": 0.999}

    def _maps(self, k, env):
        return np.full(k.shape, self.gamma), None

    def _factor(self, k0, k):
        return np.power(self.gamma, k - k0)

    def _settles(self):
        return 0 if self.gamma == 1 else None

    def horizon(self, ctx):
        if self.base_lr == 0 or self.gamma == 1:
            return 0
        return 1 if self.gamma == 0 else None


class PolynomialLR(TorchNode):
    """`lr(N) = base_lr * (1 - min(N, total_iters) / total_iters) ** power`.

    torch: `PolynomialLR(optimizer, total_iters=5, power=1.0)` (total_iters=0: constant).

    Example definition:

        {"type": "torch.PolynomialLR", "base_lr": 0.1, "total_iters": 1000, "power": 2.0}

    Args:
        base_lr: the optimizer's learning rate.
        total_iters: epochs of the decay to 0.
        power: the polynomial's power (>= 0; torch divides by zero for a negative one).
    """

    type: Literal["torch.PolynomialLR"] = "torch.PolynomialLR"
    total_iters: int = 5
    power: float = 1.0
    summary = "`base_lr * (1 - min(epoch, total_iters) / total_iters) ** power`"
    example = {"type": "torch.PolynomialLR", "base_lr": 0.1, "total_iters": 1000, "power": 2.0}

    @field_validator("total_iters")
    @classmethod
    def _iters(cls, v: int) -> int:
        _must(v >= 0, "total_iters", ">= 0", v)
        return v

    @field_validator("power")
    @classmethod
    def _power(cls, v: float) -> float:
        _must(v >= 0, "power", ">= 0", v)
        return v

    def _restart(self, lr, env):
        t = self.total_iters
        return env.base * (1.0 - min(t, 0) / t) ** self.power

    def _maps(self, k, env):
        t = self.total_iters
        inside = k <= t
        with np.errstate(all="ignore"):
            ratio = ((1.0 - k / t) / (1.0 - (k - 1) / t)) ** self.power
        return np.where(inside, ratio, 1.0), None

    def _factor(self, k0, k):
        t = self.total_iters
        if t == 0:
            return np.ones(k.shape)
        lo = np.minimum(np.asarray(k0, dtype=np.float64), t)
        hi = np.minimum(k, t)
        with np.errstate(all="ignore"):
            part = ((1.0 - hi / t) / (1.0 - lo / t)) ** self.power
        return np.where(hi > lo, part, 1.0)

    def _settles(self):
        return 0 if self.total_iters == 0 or self.power == 0 else self.total_iters


# -- cosines ------------------------------------------------------------------------------


class CosineAnnealingLR(TorchNode):
    """`lr(N) = eta_min + (base_lr - eta_min) * (1 + cos(pi * N / T_max)) / 2`, periodic.

    torch: `CosineAnnealingLR(optimizer, T_max, eta_min=0.0)`. Past `T_max` the value
    follows the cosine back up (no clamp). Values follow torch's recursion, which anneals
    the *current* lr with the cosine ratio and restarts from `eta_min` at each trough
    (`N = T_max * (2q + 1)`): in a chain or sequence the current lr is whatever the other
    schedulers left.

    Example definition:

        {"type": "torch.CosineAnnealingLR", "base_lr": 0.1, "T_max": 1000, "eta_min": 1e-5}

    Args:
        base_lr: the optimizer's learning rate.
        T_max: half-period in epochs (> 0; torch divides by it at the first step).
        eta_min: the minimum.
    """

    type: Literal["torch.CosineAnnealingLR"] = "torch.CosineAnnealingLR"
    T_max: int
    eta_min: Rate = 0.0
    summary = "cosine from `base_lr` to `eta_min` over `T_max` epochs, then back up (periodic)"
    example = {"type": "torch.CosineAnnealingLR", "base_lr": 0.1, "T_max": 1000, "eta_min": 1e-5}

    @field_validator("T_max")
    @classmethod
    def _positive(cls, v: int) -> int:
        _must(v > 0, "T_max", "> 0", v)
        return v

    def _bump(self, env: Env) -> float:
        """What torch adds to the lr on the step after a trough."""
        return (env.base - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2

    def _after_trough(self, k: np.ndarray) -> np.ndarray:
        """Epochs k whose step is the one after a trough (the additive one)."""
        t = self.T_max
        return (_ints(k) - 1 - t) % (2 * t) == 0

    def _restart(self, lr, env):
        eta = self.eta_min
        return eta + (env.base - eta) * (1 + math.cos(math.pi * 0 / self.T_max)) / 2

    def _maps(self, k, env):
        eta = self.eta_min
        bump = self._after_trough(k)
        with np.errstate(all="ignore"):
            ratio = _cos1(k, self.T_max) / _cos1(k - 1, self.T_max)
        a = np.where(bump, 1.0, ratio)
        b = np.where(bump, self._bump(env), eta - ratio * eta)
        return a, b

    def _apply(self, k, x, env):
        eta = self.eta_min
        with np.errstate(all="ignore"):
            ratio = _cos1(k, self.T_max) / _cos1(k - 1, self.T_max)
            return np.where(self._after_trough(k), x + self._bump(env), ratio * (x - eta) + eta)

    def _era_start(self, k: np.ndarray) -> np.ndarray:
        """The last epoch s <= k whose step followed a trough (0 if none)."""
        t = self.T_max
        ki = _ints(k)
        q = (ki - 1 - t) // (2 * t)
        return np.where(ki >= t + 1, t * (2 * q + 1) + 1, 0).astype(np.float64)

    def _factor(self, k0, k):
        # Only within one era (no trough step in (k0, k]) and with eta_min = 0.
        with np.errstate(all="ignore"):
            part = _cos1(k, self.T_max) / _cos1(k0, self.T_max)
        return np.where(k == k0, 1.0, part)

    def _run(self, lr0, k0, k, env):
        eta, t = self.eta_min, self.T_max
        s = self._era_start(k)
        restarted = s > k0
        with np.errstate(all="ignore"):
            # No trough step since k0: the ratios telescope from k0.
            plain = eta + (lr0 - eta) * _cos1(k, t) / _cos1(k0, t)
            # Otherwise torch's lr is eta_min at the trough s - 1 (exactly, as long as
            # cos(pi * (s - 1) / T) rounds to -1), bumps, and anneals from there.
            trough = np.where(s - 1 == k0, lr0, eta + (env.base - eta) * _cos1(s - 1, t) / 2)
            lr_s = trough + self._bump(env)
            fresh = np.where(k == s, lr_s, eta + (lr_s - eta) * _cos1(k, t) / _cos1(s, t))
        return np.where(k == k0, lr0, np.where(restarted, fresh, plain))

    def horizon(self, ctx):
        return 0 if self.base_lr == self.eta_min else None


class CosineAnnealingWarmRestarts(Absolute):
    """`lr(N) = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2`.

    torch: `CosineAnnealingWarmRestarts(optimizer, T_0, T_mult=1, eta_min=0.0)`. Cycle i
    lasts `T_i = T_0 * T_mult ** i` epochs; `T_cur` counts epochs since its start.

    Example definition:

        {"type": "torch.CosineAnnealingWarmRestarts", "base_lr": 0.1, "T_0": 10, "T_mult": 2}

    Args:
        base_lr: the optimizer's learning rate.
        T_0: epochs of the first cycle (integer > 0).
        T_mult: growth of the cycle length (integer >= 1).
        eta_min: the minimum.
    """

    type: Literal["torch.CosineAnnealingWarmRestarts"] = "torch.CosineAnnealingWarmRestarts"
    T_0: int
    T_mult: int = 1
    eta_min: Rate = 0.0
    summary = "SGDR: cosine from `base_lr` to `eta_min`, restarting; cycles grow by `T_mult`"
    example = {
        "type": "torch.CosineAnnealingWarmRestarts",
        "base_lr": 0.1,
        "T_0": 10,
        "T_mult": 2,
    }

    @field_validator("T_0")
    @classmethod
    def _t0(cls, v: int) -> int:
        _must(v > 0, "T_0", "a positive integer", v)
        return v

    @field_validator("T_mult")
    @classmethod
    def _mult(cls, v: int) -> int:
        _must(v >= 1, "T_mult", "an integer >= 1", v)
        return v

    def _cycle(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T_cur, T_i) at epoch k, as torch's step() counts them."""
        t0, m = self.T_0, self.T_mult
        if m == 1:
            return (_ints(k) % t0).astype(np.float64), np.full(k.shape, float(t0))
        starts, lengths = [0], [t0]
        while starts[-1] <= 2**53:
            starts.append(starts[-1] + lengths[-1])
            lengths.append(lengths[-1] * m)
        i = np.searchsorted(np.asarray(starts, dtype=np.float64), k, "right") - 1
        cur = k - np.asarray(starts, dtype=np.float64)[i]
        return cur, np.asarray([float(n) for n in lengths])[i]

    def _value(self, k, env):
        cur, length = self._cycle(k)
        return self._anneal(cur, length, env)

    def _anneal(self, cur: np.ndarray, length: np.ndarray, env: Env) -> np.ndarray:
        eta = self.eta_min
        return eta + (env.base - eta) * (1 + np.cos(np.pi * cur / length)) / 2

    def horizon(self, ctx):
        return 0 if self.base_lr == self.eta_min else None


# -- cyclical schedules -------------------------------------------------------------------


class CyclicLR(Absolute):
    """Cyclical learning rate between `base_lr` and `max_lr` (Smith, 2017).

    torch: `CyclicLR(optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None,
    mode="triangular", gamma=1.0, scale_fn=None, scale_mode="cycle")`, momentum options
    dropped. With `total = up + down`, `cycle = floor(1 + N / total)`,
    `x = 1 + N / total - cycle`:

        scale = x / (up / total) if x <= up / total else (x - 1) / (up / total - 1)
        lr(N) = base_lr + (max_lr - base_lr) * scale * f(cycle or N)

    `f` is `scale_fn` (an expression in `x`) evaluated at the cycle number
    (`scale_mode="cycle"`) or at N (`"iterations"`); without it, `mode` picks
    `1` (triangular), `1 / 2 ** (cycle - 1)` (triangular2) or `gamma ** N` (exp_range).
    Its `base_lr` is its own: the optimizer's lr is overwritten. Past cycle 1024,
    triangular2 overflows in torch; here its amplitude is 0, so the lr is `base_lr`.

    Example definition:

        {"type": "torch.CyclicLR", "base_lr": 0.001, "max_lr": 0.1, "step_size_up": 2000}

    Args:
        base_lr: the lower bound (the lr at the start of each cycle).
        max_lr: the upper bound reached at `step_size_up` into each cycle.
        step_size_up: epochs of the rising half (> 0).
        step_size_down: epochs of the falling half (default: `step_size_up`).
        mode: "triangular", "triangular2" or "exp_range" (ignored with `scale_fn`).
        gamma: the base of exp_range's `gamma ** N`.
        scale_fn: a custom amplitude scaling, an expression in `x`.
        scale_mode: what `scale_fn` receives: "cycle" or "iterations".
    """

    type: Literal["torch.CyclicLR"] = "torch.CyclicLR"
    base_lr: Rate
    max_lr: Rate
    step_size_up: int = 2000
    step_size_down: int | None = None
    mode: Literal["triangular", "triangular2", "exp_range"] = "triangular"
    gamma: Rate = 1.0
    scale_fn: str | None = None
    scale_mode: Literal["cycle", "iterations"] = "cycle"
    inherits_base_lr: ClassVar[bool] = False
    summary = "cycles between `base_lr` and `max_lr` (triangular, triangular2, exp_range)"
    example = {
        "type": "torch.CyclicLR",
        "base_lr": 0.001,
        "max_lr": 0.1,
        "step_size_up": 2000,
        "mode": "triangular2",
    }

    @field_validator("step_size_up")
    @classmethod
    def _up(cls, v: int) -> int:
        _must(v > 0, "step_size_up", "> 0", v)
        return v

    @field_validator("step_size_down")
    @classmethod
    def _down(cls, v: int | None) -> int | None:
        _must(v is None or v >= 0, "step_size_down", ">= 0", v)
        return v

    @field_validator("scale_fn")
    @classmethod
    def _scale_fn(cls, v: str | None) -> str | None:
        return None if v is None else _compile_lambda(v, "x")

    def _build(self, group):
        # torch sets the lr to `base_lr`, then steps once while `base_lrs` is still the
        # group's `initial_lr` (set by an earlier scheduler, if any), then records its own.
        group.lr = self.base_lr
        initial = group.set_default_initial()
        group.lr = float(self._cyclic(np.zeros(1), initial)[0])
        return self.base_lr

    def _value(self, k, env):
        return self._cyclic(k, self.base_lr)

    def _cyclic(self, k: np.ndarray, base_lr: float) -> np.ndarray:
        up = float(self.step_size_up)
        down = up if self.step_size_down is None else float(self.step_size_down)
        total = up + down
        ratio = up / total
        cycle = np.floor(1 + k / total)
        x = 1.0 + k / total - cycle
        with np.errstate(all="ignore"):
            scale = np.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
            height = (self.max_lr - base_lr) * scale
            if self.scale_fn is not None:
                arg = cycle if self.scale_mode == "cycle" else k
                f = compile_expression(self.scale_fn, "x")(arg, path=self._path + "/scale_fn")
            elif self.mode == "triangular":
                f = np.ones(k.shape)
            elif self.mode == "triangular2":
                f = 1 / np.power(2.0, cycle - 1)
            else:
                f = np.power(self.gamma, k)
            return base_lr + height * f

    def _settles(self):
        return 0 if self.max_lr == self.base_lr else None


class OneCycleLR(Absolute):
    """The 1cycle policy (Smith & Topin, 2018): up from `max_lr / div_factor` to `max_lr`,
    then down to `max_lr / div_factor / final_div_factor`.

    torch: `OneCycleLR(optimizer, max_lr, total_steps=None, epochs=None,
    steps_per_epoch=None, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
    final_div_factor=1e4, three_phase=False)`, momentum options dropped. Phases end at
    `pct_start * total - 1` and `total - 1` (three_phase: `pct_start * total - 1`,
    `2 * pct_start * total - 2`, `total - 1`); within a phase from `a` to `b`, with
    `pct` its elapsed fraction:

        cos:    b + (a - b) / 2 * (cos(pi * pct) + 1)
        linear: a + (b - a) * pct

    There is no `base_lr`: the optimizer's lr is replaced. `total` is `total_steps`, or
    `epochs * steps_per_epoch` when `total_steps` is not given (torch ignores the two when
    it is). torch raises after `total` steps; the value holds at step `total` from there
    (at `total - 1` where torch's value at `total` is negative, as linear annealing makes
    it: torch extrapolates one step past `min_lr`).

    Example definition:

        {"type": "torch.OneCycleLR", "max_lr": 0.1, "total_steps": 10000}

    Args:
        max_lr: the peak learning rate.
        total_steps: the length of the cycle in steps.
        epochs, steps_per_epoch: give `total = epochs * steps_per_epoch` instead.
        pct_start: the fraction of the cycle spent rising, in [0, 1].
        anneal_strategy: "cos" or "linear".
        div_factor: `initial_lr = max_lr / div_factor`.
        final_div_factor: `min_lr = initial_lr / final_div_factor`.
        three_phase: rise, fall back to `initial_lr`, then anneal to `min_lr`.
    """

    type: Literal["torch.OneCycleLR"] = "torch.OneCycleLR"
    base_lr: SkipJsonSchema[None] = Field(default=None, exclude=True)
    max_lr: Rate
    total_steps: int | None = None
    epochs: int | None = None
    steps_per_epoch: int | None = None
    pct_start: float = 0.3
    anneal_strategy: Literal["cos", "linear"] = "cos"
    div_factor: PositiveReal = 25.0
    final_div_factor: PositiveReal = 1e4
    three_phase: bool = False
    inherits_base_lr: ClassVar[bool] = False
    summary = "1cycle: warm up to `max_lr` for `pct_start` of `total_steps`, then anneal"
    example = {"type": "torch.OneCycleLR", "max_lr": 0.1, "total_steps": 10000}

    @field_validator("base_lr", mode="before")
    @classmethod
    def _no_base(cls, v: object) -> None:
        if v is not None:
            raise ValueError(
                "torch.OneCycleLR takes no `base_lr`: it starts at `max_lr / div_factor` "
                f"whatever the optimizer's lr. Received: base_lr={v!r}"
            )
        return None

    @field_validator("total_steps", "epochs", "steps_per_epoch")
    @classmethod
    def _positive(cls, v: int | None, info: ValidationInfo) -> int | None:
        _must(v is None or v > 0, str(info.field_name), "a positive integer", v)
        return v

    @field_validator("pct_start")
    @classmethod
    def _pct(cls, v: float) -> float:
        _must(0 <= v <= 1, "pct_start", "between 0 and 1", v)
        return v

    @model_validator(mode="after")
    def _phases(self) -> OneCycleLR:
        if self.total_steps is None and (self.epochs is None or self.steps_per_epoch is None):
            raise ValueError(
                "torch.OneCycleLR needs either `total_steps` or both `epochs` and `steps_per_epoch`"
            )
        ends = self._ends()
        if ends[0] == 0.0:
            raise ValueError(
                "Arguments `pct_start` * total steps must not be 1: torch's first phase "
                "would have zero length and divide by zero at step 0. Received: "
                f"pct_start={self.pct_start}, total steps={self._total()}"
            )
        if ends[-1] == ends[-2] and self._total() > max(ends[:-1]):
            raise ValueError(
                "Argument `pct_start` leaves torch's last phase with zero length: it "
                f"divides by zero at step {self._total()}. Received: "
                f"pct_start={self.pct_start}, three_phase={self.three_phase}"
            )
        return self

    def _total(self) -> int:
        if self.total_steps is not None:
            return self.total_steps
        return (self.epochs or 0) * (self.steps_per_epoch or 0)

    def _ends(self) -> list[float]:
        total, pct = self._total(), self.pct_start
        if self.three_phase:
            return [float(pct * total) - 1, float(2 * pct * total) - 2, float(total - 1)]
        return [float(pct * total) - 1, float(total - 1)]

    def _build(self, group):
        initial = self.max_lr / self.div_factor
        group.one_cycle = (initial, self.max_lr, initial / self.final_div_factor)
        group.initial_lr = initial
        group.lr = self._value0(Env(initial, group.one_cycle))
        return initial

    def _value(self, k, env):
        return self._anneal(np.minimum(k, self._last_valid(env)), env)

    def _last_valid(self, env: Env) -> int:
        """torch's last step, `total`, unless its value there is negative (linear
        annealing extrapolates past `min_lr`): then `total - 1`."""
        total = self._total()
        at_total = self._anneal(np.asarray([float(total)]), env)[0]
        return total if at_total >= 0 or total == 0 else total - 1

    def _anneal(self, step: np.ndarray, env: Env) -> np.ndarray:
        initial, peak, low = env.one_cycle or (0.0, 0.0, 0.0)
        if self.three_phase:
            ends_at = [(initial, peak), (peak, initial), (initial, low)]
        else:
            ends_at = [(initial, peak), (peak, low)]
        out = np.empty(step.shape, dtype=np.float64)
        chosen = np.zeros(step.shape, dtype=bool)
        start_step = 0.0
        for i, (end_step, (a, b)) in enumerate(zip(self._ends(), ends_at, strict=True)):
            sel = ~chosen & ((step <= end_step) | (i == len(ends_at) - 1))
            pct = (step[sel] - start_step) / (end_step - start_step)
            if self.anneal_strategy == "cos":
                out[sel] = b + (a - b) / 2.0 * (np.cos(np.pi * pct) + 1)
            else:
                out[sel] = (b - a) * pct + a
            chosen |= sel
            start_step = end_step
        return out

    def _settles(self):
        return self._total()


# -- composites ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Segment:
    child: TorchNode
    env: Env
    start: int
    end: int | None  # exclusive; None for the last
    lr0: float  # the lr at `start`


class SequentialLR(TorchComposite):
    """`schedulers[i]` from `milestones[i-1]` on, each restarting from its epoch 0.

    torch: `SequentialLR(optimizer, schedulers, milestones)`. The children are torch
    definitions without `base_lr` (they inherit this one's). As in torch: building the
    children steps each once, SequentialLR then resets the lr to `base_lr` and starts the
    scheduler active at 0; at milestone `m` the next child restarts with its closed form
    at epoch 0 (its `_update_lr(0)`: `base_lr` for most, the current lr times
    `lr_lambda(0)` for MultiplicativeLR) and steps from there; a milestone 0 skips the
    first child entirely. Milestones must be non-decreasing; a repeated one skips a child.

    Example definition:

        {"type": "torch.SequentialLR", "base_lr": 0.1, "milestones": [500], "schedulers": [
            {"type": "torch.LinearLR", "start_factor": 0.01, "total_iters": 500},
            {"type": "torch.CosineAnnealingLR", "T_max": 9500}]}

    Args:
        base_lr: the optimizer's learning rate.
        schedulers: the torch schedulers, in order.
        milestones: the epochs at which the next scheduler takes over
            (`len(schedulers) - 1` of them).
    """

    type: Literal["torch.SequentialLR"] = "torch.SequentialLR"
    milestones: list[NonNegInt]
    summary = "torch schedulers one after another, switching at `milestones`"
    example = {
        "type": "torch.SequentialLR",
        "base_lr": 0.1,
        "milestones": [500],
        "schedulers": [
            {"type": "torch.LinearLR", "start_factor": 0.01, "total_iters": 500},
            {"type": "torch.CosineAnnealingLR", "T_max": 9500},
        ],
    }

    @field_validator("milestones")
    @classmethod
    def _milestones(cls, v: list[int], info: ValidationInfo) -> list[int]:
        schedulers = info.data.get("schedulers")
        if schedulers is None:
            return v
        n = len(schedulers)
        if len(v) != n - 1:
            raise ValueError(
                f"Argument `milestones` must have one item fewer than `schedulers` ({n} "
                f"schedulers, so {n - 1} milestones). Received: milestones={v}"
            )
        for i in range(1, len(v)):
            if v[i] < v[i - 1]:
                raise ValueError(
                    f"Argument `milestones` must be non-decreasing. Received: milestones={v}"
                )
        for i, start, _ in _reached(v, n):
            child = schedulers[i]
            if i and isinstance(child, LinearLR | PolynomialLR) and child.total_iters == 0:
                raise ValueError(
                    f"schedulers[{i}] ({child.type} with total_iters=0) would start at "
                    f"milestone {start}, where torch evaluates its closed form and divides "
                    "by total_iters=0"
                )
        return v

    def _segments(self, upto: float) -> list[_Segment]:
        """The segments starting at or before epoch `upto`, with the lr each starts at."""
        group, envs = self._built()
        children = self._children()
        reached = _reached(self.milestones, len(children))
        first = reached[0][0]
        assert group.initial_lr is not None  # every child's constructor sets it
        lr = children[first]._initial(group.initial_lr, envs[first])
        segments: list[_Segment] = []
        for i, start, end in reached:
            if start > upto:
                break
            if segments:
                prev = segments[-1]
                last = np.asarray([float(start - 1 - prev.start)])
                before = float(prev.child._run(prev.lr0, 0, last, prev.env)[0])
                lr = children[i]._restart(before, envs[i])
            segments.append(_Segment(children[i], envs[i], start, end, lr))
        return segments

    def values(self, t, ctx):
        k = np.floor(t)
        self._check_limit(k)
        out = np.empty(k.shape, dtype=np.float64)
        for seg in self._segments(float(k.max()) if k.size else 0.0):
            mask = k >= seg.start if seg.end is None else (k >= seg.start) & (k < seg.end)
            if mask.any():
                out[mask] = seg.child._run(seg.lr0, 0, k[mask] - seg.start, seg.env)
        return out

    def _limit(self):
        children = self._children()
        for i, start, end in _reached(self.milestones, len(children)):
            child_limit = children[i]._limit()
            if child_limit is not None and (end is None or end - 1 - start > child_limit):
                return start + child_limit
        return None

    def _settles(self):
        h = self._children()[-1]._settles()
        return None if h is None else (self.milestones[-1] if self.milestones else 0) + h


def _reached(milestones: list[int], n: int) -> list[tuple[int, int, int | None]]:
    """(child index, first epoch, end epoch or None) of every child SequentialLR runs."""
    first = bisect_right(milestones, 0)
    out: list[tuple[int, int, int | None]] = []
    for i in range(first, n):
        start = milestones[i - 1] if i > first else 0
        end = milestones[i] if i < n - 1 else None
        if end is None or end > start:
            out.append((i, start, end))
    return out


class ChainedScheduler(TorchComposite):
    """Every child steps at every epoch, in order, each on the lr the previous one left.

    torch: `ChainedScheduler(schedulers)`. The children are torch definitions without
    `base_lr` (they inherit this one's). Chainable children compose (multiplicative ones
    multiply); an absolute one (LambdaLR, CosineAnnealingWarmRestarts, CyclicLR,
    OneCycleLR) overwrites what the children before it did. Combinations with no closed
    form (a CosineAnnealingLR with `eta_min > 0` or a MultiplicativeLR next to another
    scheduler that never settles) are stepped, up to step 10,000,000.

    Example definition:

        {"type": "torch.ChainedScheduler", "base_lr": 0.1, "schedulers": [
            {"type": "torch.ConstantLR", "factor": 0.5, "total_iters": 2},
            {"type": "torch.ExponentialLR", "gamma": 0.9}]}

    Args:
        base_lr: the optimizer's learning rate.
        schedulers: the torch schedulers, all stepped at every epoch.
    """

    type: Literal["torch.ChainedScheduler"] = "torch.ChainedScheduler"
    summary = "torch schedulers stepped together, each on the lr the previous one left"
    example = {
        "type": "torch.ChainedScheduler",
        "base_lr": 0.1,
        "schedulers": [
            {"type": "torch.ConstantLR", "factor": 0.5, "total_iters": 2},
            {"type": "torch.ExponentialLR", "gamma": 0.9},
        ],
    }

    def _plan(self) -> tuple[str, int]:
        """How to evaluate: ("absolute", last absolute child), ("product", the cosine
        child or -1), ("tail", the child that never settles or -1) or ("scan", -1)."""
        children = self._children()
        absolutes = [i for i, c in enumerate(children) if c.absolute]
        if absolutes:
            return "absolute", absolutes[-1]
        cosines = [i for i, c in enumerate(children) if isinstance(c, CosineAnnealingLR)]
        closed = all(isinstance(c, CosineAnnealingLR) or c._limit() is None for c in children)
        if closed and not cosines:
            return "product", -1
        if closed and len(cosines) == 1:
            cosine = children[cosines[0]]
            if isinstance(cosine, CosineAnnealingLR) and cosine.eta_min == 0:
                return "product", cosines[0]
        never = [i for i, c in enumerate(children) if c._settles() is None]
        if len(never) <= 1:
            return "tail", never[0] if never else -1
        return "scan", -1

    def _tail_start(self, tail: int) -> int:
        settles = [c._settles() or 0 for i, c in enumerate(self._children()) if i != tail]
        return max(settles, default=0)

    def values(self, t, ctx):
        k = np.floor(t)
        self._check_limit(k)
        group, envs = self._built()
        children = self._children()
        out = np.full(k.shape, group.lr, dtype=np.float64)
        pos = k >= 1
        if not pos.any():
            return out
        kk = k[pos]
        mode, j = self._plan()
        if mode == "absolute":
            x = children[j]._maps(kk, envs[j])[1]
            assert x is not None
            for child, env in zip(children[j + 1 :], envs[j + 1 :], strict=True):
                x = child._apply(kk, x, env)
        elif mode == "product":
            x = self._product(kk, group.lr, j, children, envs)
        elif mode == "tail":
            stepper = self._chain(group.lr, envs)
            h = self._tail_start(j)
            x = np.empty(kk.shape, dtype=np.float64)
            early = kk <= h
            x[early] = stepper(kk[early])
            if (~early).any():
                lr_h = float(stepper(np.asarray([float(h)]))[0])
                if j < 0:
                    x[~early] = lr_h
                else:
                    x[~early] = children[j]._run(lr_h, h, kk[~early], envs[j])
        else:
            x = self._chain(group.lr, envs)(kk)
        out[pos] = x
        return out

    def _product(
        self, k: np.ndarray, lr0: float, j: int, children: list[TorchNode], envs: list[Env]
    ) -> np.ndarray:
        """All children multiplicative (a CosineAnnealingLR with eta_min=0 included): the
        lr is a product of closed forms, restarted after each cosine trough, where the lr
        is 0 and the cosine's step adds a fixed amount."""
        start = np.zeros(k.shape)
        x = np.full(k.shape, lr0)
        if j >= 0:
            cosine = children[j]
            assert isinstance(cosine, CosineAnnealingLR)
            start = cosine._era_start(k)
            restarted = start >= 1
            if restarted.any():
                s = start[restarted]
                v = np.full(s.shape, cosine._bump(envs[j]))
                for child, env in zip(children[j + 1 :], envs[j + 1 :], strict=True):
                    v = child._apply(s, v, env)
                x[restarted] = v
        for child in children:
            factor = child._factor(start, k)
            assert factor is not None
            x = x * factor
        return x

    def _chain(self, lr0: float, envs: list[Env]) -> Stepper:
        key = (lr0, -1)
        if key not in self._steppers:
            children = self._children()

            def maps(k: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
                acc: tuple[np.ndarray, np.ndarray | None] = (np.ones(k.shape), None)
                for child, env in zip(children, envs, strict=True):
                    acc = compose(acc, child._maps(k, env))
                return acc

            self._steppers[key] = Stepper(maps, 0, lr0)
        return self._steppers[key]

    def _limit(self):
        mode, j = self._plan()
        if mode == "scan":
            return STEP_LIMIT
        if mode == "tail":
            cumulative = j >= 0 and self._children()[j]._limit() is not None
            if cumulative or self._tail_start(j) > STEP_LIMIT:
                return STEP_LIMIT
        return None

    def _settles(self):
        mode, j = self._plan()
        children = self._children()[j:] if mode == "absolute" else self._children()
        return max_horizon(*(c._settles() for c in children))


TYPES: tuple[type[Node], ...] = (
    LambdaLR,
    MultiplicativeLR,
    StepLR,
    MultiStepLR,
    ConstantLR,
    LinearLR,
    ExponentialLR,
    PolynomialLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    OneCycleLR,
    SequentialLR,
    ChainedScheduler,
)
