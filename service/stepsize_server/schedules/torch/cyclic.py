"""torch's cyclical policies: CyclicLR (Smith, 2017) and OneCycleLR (Smith & Topin, 2018).

Both are absolute (they set the lr outright) and replace the optimizer's lr with their
own: CyclicLR's `base_lr` is its lower bound, OneCycleLR has no `base_lr` at all.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from ..expressions import compile_expression, power
from ..node import NODE_COST
from ..params import Flag, NonNegSteps, PositiveInt, PositiveReal, Probability, Rate, Steps
from .node import Absolute, Env, Group, ascending, between, checked_expression

# triangular2's `1 / 2 ** (cycle - 1)` at cycle 0, 1, ..., 1100: 0 from cycle 1025 on,
# where 2 ** 1024 overflows.
with np.errstate(over="ignore"):
    _HALVINGS = 1 / np.power(2.0, np.arange(-1.0, 1100.0))


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
    base_lr: Rate = Field(description="The lower bound (the lr at the start of each cycle).")
    max_lr: Rate = Field(description="The upper bound reached at `step_size_up` into each cycle.")
    step_size_up: Steps = Field(2000, description="Epochs of the rising half (> 0).")
    step_size_down: NonNegSteps | None = Field(
        None, description="Epochs of the falling half (default: `step_size_up`)."
    )
    mode: Literal["triangular", "triangular2", "exp_range"] = Field(
        "triangular",
        description='The cycle\'s shape: "triangular", "triangular2" or "exp_range" (ignored '
        "with `scale_fn`).",
    )
    gamma: Rate = Field(1.0, description="The base of exp_range's `gamma ** N`.")
    scale_fn: str | None = Field(
        None, description="A custom amplitude scaling, an expression in `x`."
    )
    scale_mode: Literal["cycle", "iterations"] = Field(
        "cycle", description='What `scale_fn` receives: "cycle" or "iterations".'
    )
    inherits_base_lr: ClassVar[bool] = False
    summary = "cycles between `base_lr` and `max_lr` (triangular, triangular2, exp_range)"
    example = {
        "type": "torch.CyclicLR",
        "base_lr": 0.001,
        "max_lr": 0.1,
        "step_size_up": 2000,
        "mode": "triangular2",
    }

    @field_validator("scale_fn")
    @classmethod
    def _scale_fn(cls, v: str | None) -> str | None:
        return None if v is None else checked_expression(v, "x")

    def step_cost(self) -> int:
        extra = compile_expression(self.scale_fn, "x").cost if self.scale_fn is not None else 0
        return NODE_COST + extra

    def _build(self, group: Group) -> float:
        # torch sets the lr to `base_lr`, then steps once while `base_lrs` is still the
        # group's `initial_lr` (set by an earlier scheduler, if any), then records its own.
        group.lr = self.base_lr
        initial = group.set_default_initial()
        group.lr = float(self._cyclic(np.zeros(1), initial)[0])
        return self.base_lr

    def _value(self, k: np.ndarray, env: Env) -> np.ndarray:
        return self._cyclic(k, self.base_lr)

    def _cyclic(self, k: np.ndarray, base_lr: float) -> np.ndarray:
        up = float(self.step_size_up)
        down = up if self.step_size_down is None else float(self.step_size_down)
        total = up + down
        ratio = up / total
        x = np.divide(k, total)
        x += 1
        cycle = np.floor(x)
        x -= cycle
        with np.errstate(all="ignore"):
            # torch's `x / ratio if x <= ratio else (x - 1) / (ratio - 1)`: the smaller of
            # the two (x < 1 = ratio when step_size_down is 0: the first).
            falling = np.subtract(x, 1) if ratio < 1 else None
            height = np.divide(x, ratio, out=x)
            if falling is not None:
                falling /= ratio - 1
                np.minimum(height, falling, out=height)
            height *= self.max_lr - base_lr
            if self.scale_fn is not None:
                arg = cycle if self.scale_mode == "cycle" else k
                scale_fn = compile_expression(self.scale_fn, "x")
                height *= scale_fn(arg, path=self._path + "/scale_fn", integers=True)
            elif self.mode == "triangular2":
                height *= _HALVINGS.take(cycle.astype(np.intp), mode="clip")
            elif self.mode == "exp_range":
                height *= power(self.gamma, k, integral=True)
            height += base_lr
            return height

    def _settles(self) -> int | None:
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
    base_lr: SkipJsonSchema[None] = Field(
        default=None,
        exclude=True,
        description="Not accepted: OneCycleLR sets the lr itself (`max_lr / div_factor`).",
    )
    max_lr: Rate = Field(description="The peak learning rate.")
    total_steps: PositiveInt | None = Field(None, description="The length of the cycle in steps.")
    epochs: PositiveInt | None = Field(
        None, description="Epochs of the cycle, with `steps_per_epoch` instead of `total_steps`."
    )
    steps_per_epoch: PositiveInt | None = Field(
        None, description="Steps per epoch, with `epochs` instead of `total_steps`."
    )
    pct_start: Probability = Field(
        0.3, description="The fraction of the cycle spent rising, in [0, 1]."
    )
    anneal_strategy: Literal["cos", "linear"] = Field(
        "cos", description='The annealing curve: "cos" or "linear".'
    )
    div_factor: PositiveReal = Field(25.0, description="`initial_lr = max_lr / div_factor`.")
    final_div_factor: PositiveReal = Field(
        1e4, description="`min_lr = initial_lr / final_div_factor`."
    )
    three_phase: Flag = Field(
        False, description="Rise, fall back to `initial_lr`, then anneal to `min_lr`."
    )
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

    def _build(self, group: Group) -> float:
        initial = self.max_lr / self.div_factor
        group.one_cycle = (initial, self.max_lr, initial / self.final_div_factor)
        group.initial_lr = initial
        group.lr = self._value0(Env(initial, group.one_cycle))
        return initial

    def _value(self, k: np.ndarray, env: Env) -> np.ndarray:
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
        ends = self._ends()
        out = np.empty(step.shape, dtype=np.float64)
        in_order = ascending(step)
        start_step, covered = 0.0, -np.inf
        for i, (end_step, (a, b)) in enumerate(zip(ends, ends_at, strict=True)):
            # Phase i: the steps up to its end that no earlier phase holds; the last, all.
            upper = None if i == len(ends) - 1 else np.nextafter(end_step, np.inf)
            sel = between(step, np.nextafter(covered, np.inf), upper, in_order)
            covered = max(covered, end_step)
            pct = np.subtract(step[sel], start_step)
            pct /= end_step - start_step
            if self.anneal_strategy == "cos":
                pct *= np.pi
                np.cos(pct, out=pct)
                pct += 1
                pct *= (a - b) / 2.0
                pct += b
            else:
                pct *= b - a
                pct += a
            out[sel] = pct
            start_step = end_step
        return out

    def _settles(self) -> int | None:
        return self._total()
