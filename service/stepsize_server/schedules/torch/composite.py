"""torch's composites: SequentialLR and ChainedScheduler over torch schedulers.

They reproduce what torch's constructors do to the shared param group (each child steps
once when built; SequentialLR resets the lr and restarts a child from its closed form at
its milestone) and combine the children in closed form where one exists; otherwise they
step torch's recurrence (`torch_recurrence.Stepper`), up to `STEP_LIMIT` steps.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from ..node import Context, max_horizon
from ..params import NonNegInt
from .cosine import CosineAnnealingLR
from .decay import LinearLR, PolynomialLR
from .node import Env, TorchComposite, TorchNode, ascending, between, from_epoch
from .recurrence import STEP_LIMIT, Stepper, compose


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
    milestones: list[NonNegInt] = Field(
        description=(
            "The epochs at which the next scheduler takes over (`len(schedulers) - 1` of them)."
        )
    )
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

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        k = np.floor(t)
        self._check_limit(k)
        out = np.empty(k.shape, dtype=np.float64)
        in_order = ascending(k)
        for seg in self._segments(float(k.max()) if k.size else 0.0):
            sel = between(k, seg.start, seg.end, in_order)
            local = k[sel]
            if local.size:
                out[sel] = seg.child._run(seg.lr0, 0, local - seg.start, seg.env)
        return out

    def _limit(self) -> int | None:
        children = self._children()
        for i, start, end in _reached(self.milestones, len(children)):
            child_limit = children[i]._limit()
            if child_limit is not None and (end is None or end - 1 - start > child_limit):
                return start + child_limit
        return None

    def _settles(self) -> int | None:
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

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        k = np.floor(t)
        self._check_limit(k)
        group, envs = self._built()
        children = self._children()
        pos = from_epoch(k, 1)
        kk = k[pos]
        if not kk.size:
            return np.full(k.shape, group.lr, dtype=np.float64)
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
        if kk.size == k.size:
            return x
        out = np.full(k.shape, group.lr, dtype=np.float64)
        out[pos] = x
        return out

    def _product(
        self, k: np.ndarray, lr0: float, j: int, children: list[TorchNode], envs: list[Env]
    ) -> np.ndarray:
        """All children multiplicative (a CosineAnnealingLR with eta_min=0 included): the
        lr is a product of closed forms, restarted after each cosine trough, where the lr
        is 0 and the cosine's step adds a fixed amount."""
        start: int | np.ndarray = 0
        x: float | np.ndarray = lr0
        if j >= 0:
            cosine = children[j]
            assert isinstance(cosine, CosineAnnealingLR)
            start = cosine._era_start(k)
            restarted = start >= 1
            x = np.full(k.shape, lr0)
            if restarted.any():
                s = start[restarted]
                v = np.full(s.shape, cosine._bump(envs[j]))
                for child, env in zip(children[j + 1 :], envs[j + 1 :], strict=True):
                    v = child._apply(s, v, env)
                x[restarted] = v
        for child in children:
            factor = child._factor(start, k)
            assert factor is not None
            x = np.multiply(factor, x, out=factor)
        return np.asarray(x, dtype=np.float64)

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

    def _limit(self) -> int | None:
        mode, j = self._plan()
        if mode == "scan":
            return STEP_LIMIT
        if mode == "tail":
            cumulative = j >= 0 and self._children()[j]._limit() is not None
            if cumulative or self._tail_start(j) > STEP_LIMIT:
                return STEP_LIMIT
        return None

    def _settles(self) -> int | None:
        mode, j = self._plan()
        children = self._children()[j:] if mode == "absolute" else self._children()
        return max_horizon(*(c._settles() for c in children))
