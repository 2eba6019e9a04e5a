"""torch's multiplicative decays: StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR
and PolynomialLR.

Each is chainable: its `step()` multiplies the current lr by a factor, and the product of
the factors over any span of epochs has a closed form (`_factor`), which is what both the
standalone value (`base_lr` times the product from epoch 0) and ChainedScheduler's
products use. Integer powers go through `expressions.power`: a decay that runs for a
million steps underflows to 0, where libm's pow is slow.
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from ..expressions import power
from ..node import Context
from ..params import NonNegReal, NonNegSteps, PositiveFraction, Probability, Rate, Steps
from .node import Env, TorchNode, as_ints, is_zero
from .recurrence import Map


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
    step_size: Steps = Field(
        description="Epochs between decays (> 0; torch divides by it at the first step)."
    )
    gamma: Rate = Field(0.1, description="Multiplicative factor of each decay.")
    summary = "`base_lr * gamma ** (epoch // step_size)`"
    example = {"type": "torch.StepLR", "base_lr": 0.1, "step_size": 30, "gamma": 0.1}

    def _maps(self, k: np.ndarray, env: Env) -> Map:
        return np.where(as_ints(k) % self.step_size == 0, self.gamma, 1.0), None

    def _factor(self, k0: int | np.ndarray, k: np.ndarray) -> np.ndarray | None:
        s = self.step_size
        n = as_ints(k) // s  # the decays up to k, then less those up to k0
        if not is_zero(k0):
            n -= as_ints(k0) // s
        return power(self.gamma, n, integral=True)

    def _settles(self) -> int | None:
        return 0 if self.gamma == 1 else None

    def horizon(self, ctx: Context) -> int | None:
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
    milestones: list[NonNegSteps] = Field(
        description="Epochs at which the lr is multiplied by `gamma`."
    )
    gamma: Rate = Field(0.1, description="Multiplicative factor of each decay.")
    summary = "`base_lr * gamma ** (milestones passed)`, milestones counted with repetition"
    example = {"type": "torch.MultiStepLR", "base_lr": 0.1, "milestones": [30, 80], "gamma": 0.1}

    def _counts(self) -> tuple[np.ndarray, np.ndarray]:
        counter = Counter(self.milestones)
        keys = sorted(counter)
        return np.asarray(keys, dtype=np.float64), np.asarray([counter[m] for m in keys])

    def _passed(self, k: np.ndarray | int) -> np.ndarray:
        """How many milestones are <= k (with repetition)."""
        return np.searchsorted(np.sort(np.asarray(self.milestones, dtype=np.float64)), k, "right")

    def _initial(self, lr: float, env: Env) -> float:
        zeros = self.milestones.count(0)
        return lr * self.gamma**zeros if zeros else lr

    def _restart(self, lr: float, env: Env) -> float:
        return env.base * self.gamma ** int(self._passed(0))

    def _maps(self, k: np.ndarray, env: Env) -> Map:
        keys, counts = self._counts()
        if not keys.size:
            return np.ones(k.shape), None
        i = np.minimum(np.searchsorted(keys, k), keys.size - 1)
        hit = keys[i] == k
        return np.where(hit, np.power(self.gamma, counts[i].astype(np.float64)), 1.0), None

    def _factor(self, k0: int | np.ndarray, k: np.ndarray) -> np.ndarray | None:
        # gamma ** n for the n milestones in (k0, k]: from the table of gamma ** 0..m.
        table = np.power(self.gamma, np.arange(len(self.milestones) + 1, dtype=np.float64))
        n = self._passed(k)
        if not is_zero(k0) or self._passed(0):
            n -= self._passed(k0)
        return table[n]

    def _settles(self) -> int | None:
        return max(self.milestones) if self.milestones and self.gamma != 1 else 0

    def horizon(self, ctx: Context) -> int | None:
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
    factor: Probability = Field(
        1.0 / 3,
        description=(
            "Multiplier until `total_iters`, in [0, 1] (0 only with total_iters=0: torch "
            "divides by it at total_iters)."
        ),
    )
    total_iters: NonNegSteps = Field(5, description="Epochs at the reduced lr.")
    summary = "`base_lr * factor` for `total_iters` epochs, then `base_lr`"
    example = {"type": "torch.ConstantLR", "base_lr": 0.1, "factor": 0.5, "total_iters": 4}

    @field_validator("total_iters")
    @classmethod
    def _iters(cls, v: int, info: ValidationInfo) -> int:
        if v > 0 and info.data.get("factor") == 0:
            raise ValueError(
                "Argument `factor` must be > 0 when total_iters > 0 (torch divides by it "
                f"at epoch total_iters). Received: factor=0.0, total_iters={v}"
            )
        return v

    def _initial(self, lr: float, env: Env) -> float:
        return lr * self.factor

    def _restart(self, lr: float, env: Env) -> float:
        return env.base * (self.factor + (self.total_iters <= 0) * (1 - self.factor))

    def _maps(self, k: np.ndarray, env: Env) -> Map:
        if self.total_iters == 0:
            return np.ones(k.shape), None
        return np.where(k == self.total_iters, 1.0 / self.factor, 1.0), None

    def _factor(self, k0: int | np.ndarray, k: np.ndarray) -> np.ndarray | None:
        t = self.total_iters
        if t == 0:
            return np.ones(k.shape)
        if is_zero(k0):
            return np.where(k >= t, 1.0 / self.factor, 1.0)
        return np.where((np.asarray(k0) < t) & (k >= t), 1.0 / self.factor, 1.0)

    def _settles(self) -> int | None:
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
    start_factor: PositiveFraction = Field(1.0 / 3, description="Multiplier at epoch 0, in (0, 1].")
    end_factor: Probability = Field(
        1.0, description="Multiplier from epoch `total_iters` on, in [0, 1]."
    )
    total_iters: NonNegSteps = Field(5, description="Epochs of the linear change.")
    summary = "linear multiplier from `start_factor` to `end_factor` over `total_iters`"
    example = {
        "type": "torch.LinearLR",
        "base_lr": 0.1,
        "start_factor": 0.01,
        "total_iters": 500,
    }

    def _initial(self, lr: float, env: Env) -> float:
        return lr * self.start_factor

    def _restart(self, lr: float, env: Env) -> float:
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

    def _maps(self, k: np.ndarray, env: Env) -> Map:
        inside = k <= self.total_iters
        with np.errstate(all="ignore"):
            return np.where(inside, self._ratio(np.where(inside, k, 1.0)), 1.0), None

    def _factor(self, k0: int | np.ndarray, k: np.ndarray) -> np.ndarray | None:
        t = self.total_iters
        lo = np.minimum(np.asarray(k0, dtype=np.float64), t)
        hi = np.minimum(k, t)
        # The product telescopes to g(hi)/g(lo), g(x) = T*s + x*(e - s); its last factor
        # is torch's own ratio, so that a decay to end_factor=0 leaves torch's residue.
        with np.errstate(all="ignore"):
            d = self._denominator(hi)
            ratio = np.maximum(1.0 + (self.end_factor - self.start_factor) / d, 0)
            part = np.divide(d, self._denominator(lo + 1), out=d)
            part *= ratio
        return np.where(hi > lo, part, 1.0)

    def _settles(self) -> int | None:
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
    gamma: Rate = Field(description="Multiplicative factor per epoch.")
    plain_step0: ClassVar[bool] = True  # get_lr checks `_is_initial`
    summary = "`base_lr * gamma ** epoch`"
    example = {"type": "torch.ExponentialLR", "base_lr": 0.1, "gamma": 0.999}

    def _maps(self, k: np.ndarray, env: Env) -> Map:
        return np.full(k.shape, self.gamma), None

    def _factor(self, k0: int | np.ndarray, k: np.ndarray) -> np.ndarray | None:
        return power(self.gamma, k if is_zero(k0) else k - k0, integral=True)

    def _settles(self) -> int | None:
        return 0 if self.gamma == 1 else None

    def horizon(self, ctx: Context) -> int | None:
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
    total_iters: NonNegSteps = Field(5, description="Epochs of the decay to 0.")
    power: NonNegReal = Field(
        1.0,
        description="The polynomial's power (>= 0; torch divides by zero for a negative one).",
    )
    plain_step0: ClassVar[bool] = True  # get_lr checks `_is_initial`
    summary = "`base_lr * (1 - min(epoch, total_iters) / total_iters) ** power`"
    example = {"type": "torch.PolynomialLR", "base_lr": 0.1, "total_iters": 1000, "power": 2.0}

    def _restart(self, lr: float, env: Env) -> float:
        t = self.total_iters
        return env.base * (1.0 - min(t, 0) / t) ** self.power

    def _maps(self, k: np.ndarray, env: Env) -> Map:
        t = self.total_iters
        inside = k <= t
        with np.errstate(all="ignore"):
            ratio = ((1.0 - k / t) / (1.0 - (k - 1) / t)) ** self.power
        return np.where(inside, ratio, 1.0), None

    def _factor(self, k0: int | np.ndarray, k: np.ndarray) -> np.ndarray | None:
        t = self.total_iters
        if t == 0:
            return np.ones(k.shape)
        lo = np.minimum(np.asarray(k0, dtype=np.float64), t)
        hi = np.minimum(k, t)
        with np.errstate(all="ignore"):
            part = ((1.0 - hi / t) / (1.0 - lo / t)) ** self.power
        return np.where(hi > lo, part, 1.0)

    def _settles(self) -> int | None:
        return 0 if self.total_iters == 0 or self.power == 0 else self.total_iters
