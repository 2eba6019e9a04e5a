"""torch's SequentialLR: torch schedulers one after another (ChainedScheduler: `chained`).

It reproduces what torch's constructors do to the shared param group (each child steps
once when built; SequentialLR resets the lr and restarts a child from its closed form at
its milestone), and runs each child from the lr its segment starts at.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from ..errors import ErrorItem
from ..node import Context, Node
from ..params import NonNegSteps
from .decay import LinearLR, PolynomialLR
from .node import Env, Group, TorchComposite, TorchNode, ascending, between, split_envs
from .recurrence import Map


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
    A ChainedScheduler may be the child it starts with (torch then starts it with one plain
    `step()` of each of its schedulers), never one it restarts at a milestone (torch raises
    NotImplementedError there); a SequentialLR child is rejected (torch runs it a step
    ahead, or raises). Inside a ChainedScheduler it steps as torch steps it there: its
    active scheduler on the lr the schedulers before it left, and at a milestone the next
    one's `_update_lr(0)`, which for most types sets the lr to `base_lr` outright (as an
    absolute scheduler does, discarding what the other schedulers did so far).

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
    child_offsets = {"schedulers": "milestones"}
    milestones: list[NonNegSteps] = Field(
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

    restarts_children: ClassVar[bool] = True

    def start_of(self, child: TorchNode) -> int | None:
        """The epoch at which this SequentialLR starts `child` (one of its schedulers), or
        None if it never runs it (skipped by a repeated or zero milestone)."""
        index = next(i for i, s in enumerate(self.schedulers) if s is child)
        for i, start, _ in _reached(self.milestones, len(self.schedulers)):
            if i == index:
                return start
        return None

    def placement_errors(self, path: str, parent: Node | None) -> list[ErrorItem]:
        errors = super().placement_errors(path, parent)
        if isinstance(parent, TorchComposite) and parent.restarts_children:
            errors.append(
                {
                    "path": path,
                    "message": "a torch.SequentialLR inside a torch.SequentialLR misbehaves "
                    "in torch: started by the outer one it runs one step ahead (its "
                    "milestones come a step early), and restarted at a milestone it raises "
                    "NotImplementedError; list its schedulers in the outer one instead",
                }
            )
        return errors

    # -- as a scheduler a ChainedScheduler steps (torch.ChainedScheduler([..., seq, ...]))
    def _n_bases(self) -> int:
        return sum(child._n_bases() for child in self._children())

    def _build_bases(self, group: Group) -> list[float]:
        # torch's constructor: the children are built (each steps once), the lr is reset
        # to `initial_lr`, and the scheduler active at epoch 0 steps once more.
        children = self._children()
        parts = [child._build_bases(group) for child in children]
        assert group.initial_lr is not None  # every child's constructor sets it
        group.lr = group.initial_lr
        first = _reached(self.milestones, len(children))[0][0]
        env = children[first]._env(parts[first], group.one_cycle)
        group.lr = children[first]._initial(group.lr, env)
        return [b for part in parts for b in part]

    def _env(self, bases: list[float], one_cycle: tuple[float, float, float] | None) -> Env:
        return Env(bases[0], one_cycle, leaves=split_envs(self._children(), bases, one_cycle))

    def _maps(self, k: np.ndarray, env: Env) -> Map:
        """The step reaching epoch k: the active child's step, or at a milestone the next
        child's `_update_lr(0)` (affine in the current lr: measured at lr 0 and 1)."""
        children = self._children()
        a = np.empty(k.shape, dtype=np.float64)
        b = np.zeros(k.shape, dtype=np.float64)
        for i, start, end in _reached(self.milestones, len(children)):
            child, child_env = children[i], env.leaves[i]
            sel = between(k, start, end, ascending(k))
            local = k[sel] - start
            if not local.size:
                continue
            seg_a, seg_b = np.empty(local.shape), np.zeros(local.shape)
            restart = local == 0
            if restart.any():
                b0 = child._restart(0.0, child_env)
                seg_a[restart], seg_b[restart] = child._restart(1.0, child_env) - b0, b0
            stepped = ~restart
            if stepped.any():
                step_a, step_b = child._maps(local[stepped], child_env)
                seg_a[stepped] = step_a
                if step_b is not None:
                    seg_b[stepped] = step_b
            a[sel], b[sel] = seg_a, seg_b
        return a, b

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
