"""The Hugging Face family's cosine schedules: `hf.cosine`, `hf.cosine_with_restarts`,
`hf.cosine_with_min_lr` and `hf.cosine_warmup_with_min_lr` (notation in the package docstring).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from ..params import NonNegReal, NonNegSteps, Probability, Rate, Steps
from .node import HFNode, clip0, cosine_wave, warmup_ramp


class Cosine(HFNode):
    """Linear warmup, then a cosine that is NOT clamped at `T`: it keeps oscillating.

    `lr_lambda(s) = warm(s)` for `s < w`, else
    `max(0, 0.5 * (1 + cos(pi * num_cycles * 2 * p)))` with `p` unbounded
    (`get_cosine_schedule_with_warmup`). With the default `num_cycles=0.5` the lr reaches 0
    at `T` and climbs back to `base_lr` at `2T - w`, exactly as transformers does.

    Args:
        base_lr: the optimizer's learning rate.
        num_warmup_steps: steps of linear warmup (required).
        num_training_steps: steps over which `p` goes from 0 to 1.
        num_cycles: number of cosine waves over `[w, T]` (0.5 = one half-cosine), >= 0.
    """

    type: Literal["hf.cosine"] = "hf.cosine"
    num_warmup_steps: NonNegSteps = Field(description="Steps of linear warmup (required).")
    num_training_steps: Steps = Field(description="Step at which the cosine part ends.")
    num_cycles: NonNegReal = Field(
        0.5,
        description=(
            "Cosine waves between warmup and `num_training_steps` (0.5: one half-cosine), >= 0."
        ),
    )
    summary = "transformers 'cosine': warmup from 0, then cosine to 0 at the end (and back up)"
    example = {
        "type": "hf.cosine",
        "base_lr": 3e-4,
        "num_warmup_steps": 1000,
        "num_training_steps": 50000,
    }

    def lr_lambda(self, t: np.ndarray) -> np.ndarray:
        w, total = self.num_warmup_steps, self.num_training_steps
        progress = (t - w) / float(max(1, total - w))
        return np.where(t < w, warmup_ramp(t, w), clip0(cosine_wave(self.num_cycles, progress)))

    def settles_by(self) -> int | None:
        return self.num_warmup_steps if self.num_cycles == 0 else None


class CosineWithRestarts(HFNode):
    """Linear warmup, then `num_cycles` hard-restarted half-cosines, then 0 from `T` on.

    `lr_lambda(s) = warm(s)` for `s < w`; `0` once `p >= 1`; else
    `max(0, 0.5 * (1 + cos(pi * ((num_cycles * p) % 1))))`
    (`get_cosine_with_hard_restarts_schedule_with_warmup`).

    Args:
        base_lr: the optimizer's learning rate.
        num_warmup_steps: steps of linear warmup (required).
        num_training_steps: end of the last cycle; 0 from there on.
        num_cycles: number of cycles (an integer, as transformers declares it), > 0.
    """

    type: Literal["hf.cosine_with_restarts"] = "hf.cosine_with_restarts"
    num_warmup_steps: NonNegSteps = Field(description="Steps of linear warmup (required).")
    num_training_steps: Steps = Field(description="End of the last cycle; 0 from there on.")
    num_cycles: Steps = Field(
        1, description="Number of cycles (an integer, as transformers declares it), > 0."
    )
    summary = "transformers 'cosine_with_restarts': warmup, num_cycles hard-restarted cosines, 0"
    example = {
        "type": "hf.cosine_with_restarts",
        "base_lr": 1e-4,
        "num_warmup_steps": 500,
        "num_training_steps": 30000,
        "num_cycles": 3,
    }

    def lr_lambda(self, t: np.ndarray) -> np.ndarray:
        w, total = self.num_warmup_steps, self.num_training_steps
        progress = (t - w) / float(max(1, total - w))
        wave = clip0(0.5 * (1.0 + np.cos(np.pi * ((float(self.num_cycles) * progress) % 1.0))))
        decay = np.where(progress >= 1.0, 0.0, wave)
        return np.where(t < w, warmup_ramp(t, w), decay)

    def settles_by(self) -> int | None:
        return self.num_warmup_steps + max(1, self.num_training_steps - self.num_warmup_steps)


class _CosineToFloor(HFNode):
    """Shared by the two `*_with_min_lr` types: the floor is `min_lr` xor `min_lr_rate`,
    as transformers requires; errors about the pair name `min_lr_rate`."""

    num_warmup_steps: NonNegSteps = Field(description="Steps of linear warmup from 0.")
    num_training_steps: Steps = Field(description="Step at which the cosine reaches the floor.")
    num_cycles: NonNegReal = Field(
        0.5, description="Number of cosine waves over the decay (0.5: one half-cosine), >= 0."
    )
    min_lr: Rate | None = Field(
        None, description="The floor as a learning rate, <= `base_lr` (or set `min_lr_rate`)."
    )
    min_lr_rate: Probability | None = Field(
        None, description="The floor as a fraction of `base_lr`, in [0, 1] (or set `min_lr`)."
    )

    @field_validator("min_lr")
    @classmethod
    def _min_lr_below_base(cls, v: float | None, info: ValidationInfo) -> float | None:
        base = info.data.get("base_lr")
        if v is None or base is None:
            return v
        if base == 0:
            raise ValueError(
                "Argument `min_lr` needs `base_lr` > 0 (transformers divides by it); "
                f"use `min_lr_rate`. Received: min_lr={v}, base_lr={base}"
            )
        if v > base:
            raise ValueError(
                f"Argument `min_lr` must be <= `base_lr`. Received: min_lr={v}, base_lr={base}"
            )
        return v

    @field_validator("min_lr_rate")
    @classmethod
    def _exactly_one_floor(cls, v: float | None, info: ValidationInfo) -> float | None:
        if "min_lr" not in info.data:  # `min_lr` itself is invalid; that error says enough
            return v
        min_lr = info.data["min_lr"]
        if min_lr is not None and v is not None:
            raise ValueError(
                "Only one of `min_lr` or `min_lr_rate` may be set. "
                f"Received: min_lr={min_lr}, min_lr_rate={v}"
            )
        if min_lr is None and v is None:
            raise ValueError("One of `min_lr` or `min_lr_rate` must be set")
        return v

    def floor_rate(self) -> float:
        """`min_lr_rate`, or `min_lr / base_lr` as transformers derives it."""
        if self.min_lr_rate is not None:
            return self.min_lr_rate
        assert self.min_lr is not None  # guaranteed by _exactly_one_floor
        return self.min_lr / self.base_lr

    def settles_by(self) -> int | None:
        flat = self.num_cycles == 0 or self.floor_rate() == 1
        return self.num_warmup_steps if flat else None


class CosineWithMinLR(_CosineToFloor):
    """Linear warmup from 0, then a cosine from `base_lr` down to a floor, NOT clamped at T.

    `lr_lambda(s) = warm(s)` for `s < w`, else `max(0, c * (1 - r) + r)` with
    `c = 0.5 * (1 + cos(pi * num_cycles * 2 * p))` and `r = min_lr_rate`, or
    `min_lr / base_lr` (`get_cosine_with_min_lr_schedule_with_warmup`). Exactly one of
    `min_lr` (absolute) and `min_lr_rate` (fraction of `base_lr`) must be set.

    Args:
        base_lr: the optimizer's learning rate.
        num_warmup_steps: steps of linear warmup (required).
        num_training_steps: steps over which `p` goes from 0 to 1.
        num_cycles: number of cosine waves over `[w, T]`, >= 0.
        min_lr: the floor as a learning rate, <= base_lr.
        min_lr_rate: the floor as a fraction of `base_lr`, in [0, 1].
    """

    type: Literal["hf.cosine_with_min_lr"] = "hf.cosine_with_min_lr"
    summary = "transformers 'cosine_with_min_lr': warmup from 0, then cosine to min_lr (and back)"
    example = {
        "type": "hf.cosine_with_min_lr",
        "base_lr": 3e-4,
        "num_warmup_steps": 1000,
        "num_training_steps": 50000,
        "min_lr_rate": 0.1,
    }

    def lr_lambda(self, t: np.ndarray) -> np.ndarray:
        w, total, r = self.num_warmup_steps, self.num_training_steps, self.floor_rate()
        progress = (t - w) / float(max(1, total - w))
        factor = cosine_wave(self.num_cycles, progress) * (1 - r) + r
        return np.where(t < w, warmup_ramp(t, w), clip0(factor))


class CosineWarmupWithMinLR(_CosineToFloor):
    """Warmup that starts above 0, then a cosine to a floor, shifted one step earlier.

    `lr_lambda(s)` for `s < w`: `(s + 1) / max(1, w)`, or with `warmup_lr_rate = a`,
    `a + (1 - a) * s / max(1, w - 1)`; after: `max(0, c * (1 - r) + r)` with
    `c = 0.5 * (1 + cos(pi * num_cycles * 2 * (s - w + 1) / max(1, T - w)))`; `r` as in
    `hf.cosine_with_min_lr` (`get_cosine_with_min_lr_schedule_with_warmup_lr_rate`). The
    floor is reached at `T - 1`; past it the cosine goes back up (not clamped).

    Args:
        base_lr: the optimizer's learning rate.
        num_warmup_steps: steps of warmup (required).
        num_training_steps: the cosine reaches the floor at `T - 1`.
        num_cycles: number of cosine waves over `[w, T]`, >= 0.
        min_lr: the floor as a learning rate, <= base_lr.
        min_lr_rate: the floor as a fraction of `base_lr`, in [0, 1].
        warmup_lr_rate: warmup start as a fraction of `base_lr`, in [0, 1] (default: the
            warmup starts at `1 / w`).
    """

    type: Literal["hf.cosine_warmup_with_min_lr"] = "hf.cosine_warmup_with_min_lr"
    warmup_lr_rate: Probability | None = Field(
        None,
        description="Warmup start as a fraction of `base_lr`, in [0, 1] (default: the "
        "warmup starts at `1 / num_warmup_steps`).",
    )
    summary = "transformers 'cosine_warmup_with_min_lr': warmup from 1/w, cosine to min_lr"
    example = {
        "type": "hf.cosine_warmup_with_min_lr",
        "base_lr": 3e-4,
        "num_warmup_steps": 1000,
        "num_training_steps": 50000,
        "min_lr": 3e-5,
    }

    def lr_lambda(self, t: np.ndarray) -> np.ndarray:
        w, total = float(self.num_warmup_steps), float(self.num_training_steps)
        r = self.floor_rate()
        if self.warmup_lr_rate is None:
            warm = (t + 1.0) / max(1.0, w)
        else:
            a = float(self.warmup_lr_rate)
            warm = a + (1.0 - a) * t / max(1.0, w - 1)
        progress = (t - w + 1.0) / max(1.0, total - w)
        factor = cosine_wave(self.num_cycles, progress) * (1 - r) + r
        return np.where(t < w, warm, clip0(factor))
