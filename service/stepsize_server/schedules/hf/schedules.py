"""The Hugging Face schedules other than the cosine ones (see the package docstring)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from ..params import NonNegReal, NonNegSteps, PositiveReal, Probability, Rate, Steps
from .node import HFNode, clip0, cosine_wave, warmup_ramp


class Linear(HFNode):
    """Linear warmup from 0 to `base_lr`, then linear decay to 0 at `T`, then 0.

    `lr_lambda(s) = warm(s)` for `s < w`, else `max(0, (T - s) / max(1, T - w))`
    (`get_linear_schedule_with_warmup`). The first update (step 0) uses lr 0 when w > 0.

    Example: `{"type": "hf.linear", "base_lr": 5e-5, "num_warmup_steps": 500,
    "num_training_steps": 10000}` is `get_scheduler("linear", AdamW(params, lr=5e-5),
    num_warmup_steps=500, num_training_steps=10000)`.

    Args:
        base_lr: the optimizer's learning rate.
        num_warmup_steps: steps of linear warmup (required, as in transformers).
        num_training_steps: step at which the lr reaches 0.
    """

    type: Literal["hf.linear"] = "hf.linear"
    num_warmup_steps: NonNegSteps = Field(
        description="Steps of linear warmup (required, as in transformers)."
    )
    num_training_steps: Steps = Field(description="Step at which the lr reaches 0.")
    summary = "transformers 'linear': warmup from 0, then linear decay to 0 at num_training_steps"
    example = {
        "type": "hf.linear",
        "base_lr": 5e-5,
        "num_warmup_steps": 500,
        "num_training_steps": 10000,
    }

    def lr_lambda(self, t: np.ndarray) -> np.ndarray:
        w, total = self.num_warmup_steps, self.num_training_steps
        decay = clip0((total - t) / float(max(1, total - w)))
        return np.where(t < w, warmup_ramp(t, w), decay)

    def settles_by(self) -> int | None:
        return max(self.num_training_steps, self.num_warmup_steps)


class Polynomial(HFNode):
    """Linear warmup, then polynomial decay from `base_lr` to the absolute `lr_end` at `T`.

    `lr_lambda(s) = warm(s)` for `s < w`; `lr_end / base_lr` for `s > T`; else
    `((base_lr - lr_end) * (1 - (s - w) / (T - w)) ** power + lr_end) / base_lr`
    (`get_polynomial_decay_schedule_with_warmup`, `lr_init = base_lr`).

    Rejected as transformers rejects it: `lr_end >= base_lr`. Also rejected: `T == w`,
    where transformers divides by zero at step `w`.

    Args:
        base_lr: the optimizer's learning rate (`lr_init`).
        num_warmup_steps: steps of linear warmup (required).
        num_training_steps: step at which the lr reaches `lr_end`.
        lr_end: final learning rate (absolute, not a ratio), < base_lr.
        power: exponent of the decay, > 0.
    """

    type: Literal["hf.polynomial"] = "hf.polynomial"
    num_warmup_steps: NonNegSteps = Field(description="Steps of linear warmup (required).")
    num_training_steps: Steps = Field(description="Step at which the lr reaches `lr_end`.")
    lr_end: Rate = Field(
        1e-7, description="Final learning rate (absolute, not a ratio), < base_lr."
    )
    power: PositiveReal = Field(1.0, description="Exponent of the decay, > 0.")
    summary = "transformers 'polynomial': warmup from 0, then (1 - p) ** power decay to lr_end"
    example = {
        "type": "hf.polynomial",
        "base_lr": 1e-3,
        "num_warmup_steps": 1000,
        "num_training_steps": 20000,
        "lr_end": 1e-5,
        "power": 2.0,
    }

    @field_validator("num_training_steps")
    @classmethod
    def _not_warmup(cls, v: int, info: ValidationInfo) -> int:
        if v == info.data.get("num_warmup_steps"):
            raise ValueError(
                "Argument `num_training_steps` must differ from `num_warmup_steps` "
                "(transformers divides by their difference). "
                f"Received: num_training_steps={v}, num_warmup_steps={v}"
            )
        return v

    @field_validator("lr_end")
    @classmethod
    def _below_base(cls, v: float, info: ValidationInfo) -> float:
        base = info.data.get("base_lr")
        if base is not None and not base > v:
            raise ValueError(
                "Argument `lr_end` must be < `base_lr` (transformers raises otherwise). "
                f"Received: lr_end={v}, base_lr={base}"
            )
        return v

    def lr_lambda(self, t: np.ndarray) -> np.ndarray:
        w, total = self.num_warmup_steps, self.num_training_steps
        lr_init, lr_end = self.base_lr, self.lr_end
        # The s > T branch is where T - w may be <= 0; keep it out of the division.
        pct_remaining = 1 - (np.minimum(t, total) - w) / float(total - w)
        decay = ((lr_init - lr_end) * np.abs(pct_remaining) ** self.power + lr_end) / lr_init
        after = np.full(t.shape, lr_end / lr_init)
        return np.where(t < w, warmup_ramp(t, w), np.where(t > total, after, decay))

    def settles_by(self) -> int | None:
        return max(self.num_training_steps, self.num_warmup_steps)


class Constant(HFNode):
    """`base_lr` at every step: `lr_lambda(s) = 1` (`get_constant_schedule`).

    `get_scheduler("constant", ...)` silently ignores `num_warmup_steps`,
    `num_training_steps` and every keyword argument; this type rejects them instead
    (use `hf.constant_with_warmup` for a warmup).

    Args:
        base_lr: the optimizer's learning rate.
    """

    type: Literal["hf.constant"] = "hf.constant"
    summary = "transformers 'constant': base_lr at every step (no warmup)"
    example = {"type": "hf.constant", "base_lr": 1e-4}

    def lr_lambda(self, t: np.ndarray) -> np.ndarray:
        return np.ones(t.shape, dtype=np.float64)

    def settles_by(self) -> int | None:
        return 0


class ConstantWithWarmup(HFNode):
    """Linear warmup from 0, then `base_lr`.

    `lr_lambda(s) = s / max(1, w)` for `s < w`, else 1
    (`get_constant_schedule_with_warmup`). `get_scheduler` drops `num_training_steps` and
    keyword arguments for this type, so they are not accepted here.

    Args:
        base_lr: the optimizer's learning rate.
        num_warmup_steps: steps of linear warmup (required).
    """

    type: Literal["hf.constant_with_warmup"] = "hf.constant_with_warmup"
    num_warmup_steps: NonNegSteps = Field(description="Steps of linear warmup (required).")
    summary = "transformers 'constant_with_warmup': warmup from 0, then base_lr"
    example = {"type": "hf.constant_with_warmup", "base_lr": 1e-4, "num_warmup_steps": 1000}

    def lr_lambda(self, t: np.ndarray) -> np.ndarray:
        w = self.num_warmup_steps
        return np.where(t < w, t / float(max(1.0, w)), 1.0)

    def settles_by(self) -> int | None:
        return self.num_warmup_steps


class InverseSqrt(HFNode):
    """Linear warmup, then decay as `1 / sqrt` of the step.

    `lr_lambda(s) = warm(s)` for `s < w`, else `1 / sqrt((s + timescale - w) / timescale)`
    (`get_inverse_sqrt_schedule`). An absent or null `timescale` means what it means in
    transformers, `num_warmup_steps or 10000`, and is stored resolved.
    `get_scheduler` drops `num_training_steps` for this type, so it is not accepted.

    Args:
        base_lr: the optimizer's learning rate.
        num_warmup_steps: steps of linear warmup (required).
        timescale: steps after warmup at which the lr is `base_lr / sqrt(2)`, > 0.
    """

    type: Literal["hf.inverse_sqrt"] = "hf.inverse_sqrt"
    num_warmup_steps: NonNegSteps = Field(description="Steps of linear warmup (required).")
    timescale: Steps | None = Field(
        None, description="Steps after warmup at which the lr is `base_lr / sqrt(2)`, > 0."
    )
    summary = "transformers 'inverse_sqrt': warmup from 0, then base_lr / sqrt(step / timescale)"
    example = {"type": "hf.inverse_sqrt", "base_lr": 1e-3, "num_warmup_steps": 4000}

    @field_validator("timescale")
    @classmethod
    def _resolve(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is None:
            w = info.data.get("num_warmup_steps")
            return None if w is None else (w or 10_000)
        return v

    def lr_lambda(self, t: np.ndarray) -> np.ndarray:
        w = self.num_warmup_steps
        timescale = self.timescale if self.timescale is not None else (w or 10_000)
        shift = timescale - w
        # Clamped only where unused (s < w), to keep 1/0 out of the warmup steps.
        decay = 1.0 / np.sqrt(np.maximum(t + shift, timescale) / timescale)
        return np.where(t < w, warmup_ramp(t, w), decay)

    def settles_by(self) -> int | None:
        return None


Shape = Literal["linear", "cosine", "1-sqrt"]


class WarmupStableDecay(HFNode):
    """Warmup, a stable phase at `base_lr`, a decay, then `min_lr_ratio * base_lr` (WSD).

    With `m = min_lr_ratio`, `S = num_stable_steps` (or `T - w - D`), `D = num_decay_steps`:
    for `s < w`, `q = s / max(1, w)` and the factor is `q` (linear), `0.5 * (1 - cos(pi q))`
    (cosine) or `1 - sqrt(1 - q)` (1-sqrt); for `w <= s < w + S` it is 1; for
    `w + S <= s < w + S + D`, `q = (s - w - S) / max(1, D)` and the factor is `1 - q`,
    `0.5 * (1 + cos(pi * num_cycles * 2 * q))` or `1 - sqrt(q)`; warmup and decay give
    `max(0, factor * (1 - m) + m)`; after the decay the value is `m` (`get_wsd_schedule`).
    Note the warmup starts at `m`, not 0.

    Exactly one of `num_training_steps` and `num_stable_steps` must be set: transformers
    warns and ignores `num_training_steps` when both are, and a `num_training_steps`
    below `w + D` (a negative stable phase) is rejected.

    Args:
        base_lr: the optimizer's learning rate.
        num_warmup_steps: steps of warmup (required).
        num_decay_steps: steps of decay (required).
        num_training_steps: warmup + stable + decay steps; sets `S = T - w - D`.
        num_stable_steps: steps at `base_lr` between warmup and decay.
        warmup_type: `linear`, `cosine` or `1-sqrt`.
        decay_type: `linear`, `cosine` or `1-sqrt`.
        min_lr_ratio: warmup start and final value as a fraction of `base_lr`, in [0, 1].
        num_cycles: cosine waves over the decay (`decay_type="cosine"`), >= 0.
    """

    type: Literal["hf.warmup_stable_decay"] = "hf.warmup_stable_decay"
    num_warmup_steps: NonNegSteps = Field(description="Steps of warmup (required).")
    num_decay_steps: NonNegSteps = Field(description="Steps of decay (required).")
    num_training_steps: Steps | None = Field(
        None,
        description=(
            "Total steps; the stable phase takes what warmup and decay leave (or set "
            "`num_stable_steps`)."
        ),
    )
    num_stable_steps: NonNegSteps | None = Field(
        None,
        description="Steps at `base_lr` between warmup and decay (or set `num_training_steps`).",
    )
    warmup_type: Shape = Field(
        "linear", description="Shape of the warmup: `linear`, `cosine` or `1-sqrt`."
    )
    decay_type: Shape = Field(
        "cosine", description="Shape of the decay: `linear`, `cosine` or `1-sqrt`."
    )
    min_lr_ratio: Probability = Field(
        0.0, description="Warmup start and final value as a fraction of `base_lr`, in [0, 1]."
    )
    num_cycles: NonNegReal = Field(
        0.5, description=('Cosine waves over the decay (`decay_type="cosine"`), >= 0.')
    )
    summary = "transformers 'warmup_stable_decay': warmup, constant base_lr, decay to min_lr_ratio"
    example = {
        "type": "hf.warmup_stable_decay",
        "base_lr": 1e-3,
        "num_warmup_steps": 1000,
        "num_decay_steps": 5000,
        "num_training_steps": 50000,
    }

    @field_validator("num_training_steps")
    @classmethod
    def _covers_warmup_and_decay(cls, v: int | None, info: ValidationInfo) -> int | None:
        w, d = info.data.get("num_warmup_steps"), info.data.get("num_decay_steps")
        if v is not None and w is not None and d is not None and v < w + d:
            raise ValueError(
                "Argument `num_training_steps` must be >= num_warmup_steps + num_decay_steps "
                f"({w + d}). Received: num_training_steps={v}"
            )
        return v

    @field_validator("num_stable_steps")
    @classmethod
    def _one_length(cls, v: int | None, info: ValidationInfo) -> int | None:
        if "num_training_steps" not in info.data:
            return v
        total = info.data["num_training_steps"]
        if total is not None and v is not None:
            raise ValueError(
                "Only one of `num_training_steps` or `num_stable_steps` may be set "
                "(transformers ignores num_training_steps then). "
                f"Received: num_training_steps={total}, num_stable_steps={v}"
            )
        if total is None and v is None:
            raise ValueError("One of `num_training_steps` or `num_stable_steps` must be set")
        return v

    @property
    def stable_steps(self) -> int:
        if self.num_stable_steps is not None:
            return self.num_stable_steps
        assert self.num_training_steps is not None
        return self.num_training_steps - self.num_warmup_steps - self.num_decay_steps

    def lr_lambda(self, t: np.ndarray) -> np.ndarray:
        w, d, m = self.num_warmup_steps, self.num_decay_steps, self.min_lr_ratio
        s = self.stable_steps
        q = np.clip(t / float(max(1, w)), 0.0, 1.0)  # clipped only where unused (s >= w)
        if self.warmup_type == "linear":
            rise = q
        elif self.warmup_type == "cosine":
            rise = 0.5 * (1.0 - np.cos(np.pi * q))
        else:
            rise = 1.0 - np.sqrt(1.0 - q)
        q = np.clip((t - w - s) / float(max(1, d)), 0.0, 1.0)
        if self.decay_type == "linear":
            fall = 1.0 - q
        elif self.decay_type == "cosine":
            fall = cosine_wave(self.num_cycles, q)
        else:
            fall = 1.0 - np.sqrt(q)
        out = np.full(t.shape, float(m))
        out = np.where(t < w + s + d, clip0(fall * (1.0 - m) + m), out)
        out = np.where(t < w + s, 1.0, out)
        return np.where(t < w, clip0(rise * (1.0 - m) + m), out)

    def settles_by(self) -> int | None:
        if self.min_lr_ratio == 1:
            return 0
        return self.num_warmup_steps + self.stable_steps + self.num_decay_steps
