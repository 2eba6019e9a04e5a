"""torch's cosine schedulers: CosineAnnealingLR (chainable, restarting from `eta_min` at
each trough, as torch's recursion does) and CosineAnnealingWarmRestarts (SGDR)."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from ..node import Context
from ..params import PositiveInt, Rate, Steps
from .node import Absolute, Env, TorchNode, as_ints, ascending
from .recurrence import Map


def _cos1(k: np.ndarray | float, period: float) -> np.ndarray:
    """`1 + math.cos(math.pi * k / period)`, as torch writes it."""
    return 1 + np.cos(np.pi * np.asarray(k, dtype=np.float64) / period)


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
    T_max: Steps = Field(
        description="Half-period in epochs (> 0; torch divides by it at the first step)."
    )
    eta_min: Rate = Field(0.0, description="The lowest learning rate (the cosine's trough).")
    plain_step0: ClassVar[bool] = True  # get_lr checks `_is_initial`
    summary = "cosine from `base_lr` to `eta_min` over `T_max` epochs, then back up (periodic)"
    example = {"type": "torch.CosineAnnealingLR", "base_lr": 0.1, "T_max": 1000, "eta_min": 1e-5}

    def _bump(self, env: Env) -> float:
        """What torch adds to the lr on the step after a trough."""
        return (env.base - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2

    def _after_trough(self, k: np.ndarray) -> np.ndarray:
        """Epochs k whose step is the one after a trough (the additive one)."""
        t = self.T_max
        return (as_ints(k) - 1 - t) % (2 * t) == 0

    def _restart(self, lr: float, env: Env) -> float:
        eta = self.eta_min
        return eta + (env.base - eta) * (1 + math.cos(math.pi * 0 / self.T_max)) / 2

    def _maps(self, k: np.ndarray, env: Env) -> Map:
        eta = self.eta_min
        bump = self._after_trough(k)
        with np.errstate(all="ignore"):
            ratio = _cos1(k, self.T_max) / _cos1(k - 1, self.T_max)
        a = np.where(bump, 1.0, ratio)
        b = np.where(bump, self._bump(env), eta - ratio * eta)
        return a, b

    def _apply(self, k: np.ndarray, x: np.ndarray, env: Env) -> np.ndarray:
        eta = self.eta_min
        with np.errstate(all="ignore"):
            ratio = _cos1(k, self.T_max) / _cos1(k - 1, self.T_max)
            return np.where(self._after_trough(k), x + self._bump(env), ratio * (x - eta) + eta)

    def _era_start(self, k: np.ndarray) -> np.ndarray:
        """The last epoch s <= k whose step followed a trough (0 if none)."""
        t = self.T_max
        ki = as_ints(k)
        q = (ki - 1 - t) // (2 * t)
        return np.where(ki >= t + 1, t * (2 * q + 1) + 1, 0).astype(np.float64)

    def _factor(self, k0: int | np.ndarray, k: np.ndarray) -> np.ndarray | None:
        # Only within one era (no trough step in (k0, k]) and with eta_min = 0.
        with np.errstate(all="ignore"):
            part = _cos1(k, self.T_max) / _cos1(k0, self.T_max)
        return np.where(k == k0, 1.0, part)

    def _run(self, lr0: float, k0: int, k: np.ndarray, env: Env) -> np.ndarray:
        eta, t = self.eta_min, self.T_max
        if not k.size:
            return np.empty(0)
        # Era r >= 1 of an epoch: it follows the r-th trough step, epoch t * (2r - 1) + 1.
        in_order = ascending(k)
        first = (k0 + t - 1) // (2 * t)
        era = (as_ints(k[-1:] if in_order else k) + (t - 1)) // (2 * t)
        last = int(era.max())
        if last - first > max(1024, k.size):  # a few huge steps: no table of eras
            return self._run_each(lr0, k0, k, env)
        # Per era, what `_run_each` computes: eta + num * (1 + cos(pi * k / t)) / den.
        r = np.arange(first, last + 1)
        s = t * (2 * r - 1) + 1
        fresh = r > first
        with np.errstate(all="ignore"):
            trough = np.where(s - 1 == k0, lr0, eta + (env.base - eta) * _cos1(s - 1, t) / 2)
            lr_s = trough + self._bump(env)
            num = np.where(fresh, lr_s - eta, lr0 - eta)
            den = np.where(fresh, _cos1(s, t), _cos1(k0, t))
            if (den[fresh] == 0).any():  # T_max > ~1e8: cos rounds to -1 after a trough
                return self._run_each(lr0, k0, k, env)
            coef = num / den
            if in_order:  # eras are runs of k
                runs = np.diff(np.searchsorted(k, s[1:]), prepend=0, append=k.size)
                coef_k = np.repeat(coef, runs)
            else:
                coef_k = coef.take(era - first)
            out = np.multiply(k, np.pi)
            out /= t
            np.cos(out, out=out)
            out += 1
            out *= coef_k
            if eta:
                out += eta
        if in_order:
            out[: np.searchsorted(k, k0, "right")] = lr0
        else:
            out[np.flatnonzero(k == k0)] = lr0
        return out

    def _run_each(self, lr0: float, k0: int, k: np.ndarray, env: Env) -> np.ndarray:
        """`_run`, computed epoch by epoch (for a few epochs spread over many eras)."""
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

    def horizon(self, ctx: Context) -> int | None:
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
    T_0: Steps = Field(description="Epochs of the first cycle (integer > 0).")
    T_mult: PositiveInt = Field(1, description="Growth of the cycle length (integer >= 1).")
    eta_min: Rate = Field(0.0, description="The lowest learning rate (the cosine's trough).")
    summary = "SGDR: cosine from `base_lr` to `eta_min`, restarting; cycles grow by `T_mult`"
    example = {
        "type": "torch.CosineAnnealingWarmRestarts",
        "base_lr": 0.1,
        "T_0": 10,
        "T_mult": 2,
    }

    def _cycle(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray | float]:
        """(T_cur, T_i) at epoch k, as torch's step() counts them."""
        t0, m = self.T_0, self.T_mult
        if m == 1:
            return (as_ints(k) % t0).astype(np.float64), float(t0)
        starts, lengths = [0], [t0]
        while starts[-1] <= 2**53:
            starts.append(starts[-1] + lengths[-1])
            lengths.append(lengths[-1] * m)
        first = np.asarray(starts, dtype=np.float64)
        length = np.asarray([float(n) for n in lengths])
        if ascending(k):  # cycle by cycle: runs of equal values
            runs = np.diff(np.searchsorted(k, first), append=k.size)
            return k - np.repeat(first, runs), np.repeat(length, runs)
        i = np.searchsorted(first, k, "right") - 1
        return k - first[i], length[i]

    def _value(self, k: np.ndarray, env: Env) -> np.ndarray:
        cur, length = self._cycle(k)
        return self._anneal(cur, length, env)

    def _anneal(self, cur: np.ndarray, length: np.ndarray | float, env: Env) -> np.ndarray:
        """`eta + (base - eta) * (1 + cos(pi * cur / length)) / 2`, in place in `cur`."""
        eta = self.eta_min
        x = np.multiply(cur, np.pi, out=cur)
        x /= length
        np.cos(x, out=x)
        x += 1
        x *= env.base - eta
        x /= 2
        x += eta
        return x

    def horizon(self, ctx: Context) -> int | None:
        return 0 if self.base_lr == self.eta_min else None
