"""torch's ChainedScheduler: every child steps at every epoch, on the lr the one before left.

Chainable children compose in closed form where one exists (multiplicative ones
multiply); otherwise the chain steps torch's recurrence (`recurrence.Stepper`), up to
`STEP_LIMIT` steps. A ChainedScheduler inside one steps its own schedulers at its place.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..errors import ErrorItem
from ..node import Context, Node, max_horizon
from .cosine import CosineAnnealingLR
from .decay import PolynomialLR
from .node import Env, Group, TorchComposite, TorchNode, from_epoch, split_envs
from .recurrence import STEP_LIMIT, Map, Stepper, compose


class ChainedScheduler(TorchComposite):
    """Every child steps at every epoch, in order, each on the lr the previous one left.

    torch: `ChainedScheduler(schedulers)`. The children are torch definitions without
    `base_lr` (they inherit this one's). Chainable children compose (multiplicative ones
    multiply); an absolute one (LambdaLR, CosineAnnealingWarmRestarts, CyclicLR,
    OneCycleLR) overwrites what the children before it did. A ChainedScheduler child steps
    its own schedulers at its place, as torch does. Combinations with no closed
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
        if any(c.restarts_children for c in children if isinstance(c, TorchComposite)):
            return "scan", -1  # a SequentialLR's milestones have no closed form here
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

    def _children(self) -> list[TorchNode]:
        """The schedulers stepped, in order: a ChainedScheduler inside this one steps its
        own at its place, which is the same as listing them here (torch builds them in
        that order too)."""
        out: list[TorchNode] = []
        for child in super()._children():
            out.extend(child._children() if isinstance(child, ChainedScheduler) else [child])
        return out

    def placement_errors(self, path: str, parent: Node | None) -> list[ErrorItem]:
        errors = super().placement_errors(path, parent)
        if isinstance(parent, TorchComposite) and parent.restarts_children:
            start = parent.start_of(self)
            if start is not None and start > 0:
                errors.append(
                    {
                        "path": path,
                        "message": "torch.SequentialLR restarts this scheduler at milestone "
                        f"{start} with `_update_lr(0)`, which torch.ChainedScheduler does "
                        "not implement (torch raises NotImplementedError); a "
                        "ChainedScheduler can only be the scheduler a SequentialLR starts "
                        "with",
                    }
                )
            elif start == 0:
                errors.extend(_divides_at_step0(self, path))
                errors.extend(_sequences_started_by(self, path))
        elif self.base_lr is not None:
            errors.extend(_sequences_built_after_steps(self, path, self.base_lr))
        return errors

    def _build_bases(self, group: Group) -> list[float]:
        return [b for child in self._children() for b in child._build_bases(group)]

    def _n_bases(self) -> int:
        return sum(child._n_bases() for child in self._children())

    def _env(self, bases: list[float], one_cycle: tuple[float, float, float] | None) -> Env:
        return Env(bases[0], one_cycle, leaves=split_envs(self._children(), bases, one_cycle))

    def _maps(self, k: np.ndarray, env: Env) -> Map:
        # Stepped by a SequentialLR inside a ChainedScheduler: each scheduler in order.
        acc: Map = (np.ones(k.shape), None)
        for child, child_env in zip(self._children(), env.leaves, strict=True):
            acc = compose(acc, child._maps(k, child_env))
        return acc

    def _initial(self, lr: float, env: Env) -> float:
        # Started by SequentialLR (`_initial_step`): one plain step of each scheduler.
        for child, child_env in zip(self._children(), env.leaves, strict=True):
            lr = child._step0(lr, child_env)
        return lr

    def _restart(self, lr: float, env: Env) -> float:
        raise NotImplementedError("rejected by placement_errors, as torch fails here")

    def _run(self, lr0: float, k0: int, k: np.ndarray, env: Env) -> np.ndarray:
        assert k0 == 0, "a ChainedScheduler only runs from epoch 0"
        return self._chained(k, lr0, list(env.leaves))

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        k = np.floor(t)
        self._check_limit(k)
        group, envs = self._built()
        return self._chained(k, group.lr, envs)

    def _chained(self, k: np.ndarray, lr0: float, envs: list[Env]) -> np.ndarray:
        """The lr at epochs k when it is `lr0` at epoch 0 and the children step with
        `envs` (a new array)."""
        children = self._children()
        pos = from_epoch(k, 1)
        kk = k[pos]
        if not kk.size:
            return np.full(k.shape, lr0, dtype=np.float64)
        mode, j = self._plan()
        if mode == "absolute":
            x = children[j]._maps(kk, envs[j])[1]
            assert x is not None
            for child, env in zip(children[j + 1 :], envs[j + 1 :], strict=True):
                x = child._apply(kk, x, env)
        elif mode == "product":
            x = self._product(kk, lr0, j, children, envs)
        elif mode == "tail":
            stepper = self._chain(lr0, envs)
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
            x = self._chain(lr0, envs)(kk)
        if kk.size == k.size:
            return x
        out = np.full(k.shape, lr0, dtype=np.float64)
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

    def stepped_steps(self, max_step: int) -> int:
        mode, j = self._plan()
        if mode == "tail" and self._limit() is None:  # stepped up to where the tail starts
            return min(max_step, self._tail_start(j))
        return super().stepped_steps(max_step)

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


def _divides_at_step0(chain: ChainedScheduler, path: str) -> list[ErrorItem]:
    """A PolynomialLR with total_iters=0 in a ChainedScheduler that a SequentialLR starts:
    its plain step at epoch 0 divides by total_iters in torch (ZeroDivisionError)."""
    errors: list[ErrorItem] = []
    for rel, child in _leaf_pointers(chain):
        if isinstance(child, PolynomialLR) and child.total_iters == 0:
            errors.append(
                {
                    "path": path + rel + "/total_iters",
                    "message": "Argument `total_iters` must be > 0 here: started by a "
                    "torch.SequentialLR, the ChainedScheduler steps this PolynomialLR at "
                    "epoch 0, where torch divides by total_iters (ZeroDivisionError). "
                    "Received: total_iters=0",
                }
            )
    return errors


def _leaf_pointers(chain: ChainedScheduler) -> list[tuple[str, TorchNode]]:
    """(pointer relative to `chain`, scheduler) of every scheduler `chain` steps."""
    out: list[tuple[str, TorchNode]] = []
    for rel, child in chain.children():
        if isinstance(child, ChainedScheduler):
            out.extend((rel + inner, leaf) for inner, leaf in _leaf_pointers(child))
        elif isinstance(child, TorchNode):
            out.append((rel, child))
    return out


def _sequences_started_by(chain: ChainedScheduler, path: str) -> list[ErrorItem]:
    """A SequentialLR in a ChainedScheduler that a SequentialLR starts: torch starts the
    chain with `_initial_step()`, whose `step()` advances the inner SequentialLR a step."""
    return [
        {
            "path": path + rel,
            "message": "a torch.SequentialLR inside a torch.ChainedScheduler that a "
            "torch.SequentialLR starts misbehaves in torch: the outer one starts the chain "
            "with `_initial_step()`, whose `step()` advances this SequentialLR, so it runs "
            "one step ahead (its milestones come a step early)",
        }
        for rel, leaf in _leaf_pointers(chain)
        if isinstance(leaf, TorchComposite) and leaf.restarts_children
    ]


def _sequences_built_after_steps(
    chain: ChainedScheduler, path: str, base_lr: float
) -> list[ErrorItem]:
    """A SequentialLR listed after schedulers whose constructors changed the lr: torch's
    SequentialLR constructor resets the lr to `initial_lr`, undoing their first step, so
    torch later runs them from the wrong lr (a ConstantLR ending lifts it above base_lr)."""
    errors: list[ErrorItem] = []
    group = Group(lr=base_lr)
    for rel, leaf in _leaf_pointers(chain):
        restarts = isinstance(leaf, TorchComposite) and leaf.restarts_children
        if restarts and group.initial_lr is not None and group.lr != group.initial_lr:
            errors.append(
                {
                    "path": path + rel,
                    "message": "this torch.SequentialLR misbehaves in torch here: its "
                    "constructor resets the lr to `initial_lr` "
                    f"({group.initial_lr!r}), undoing what the schedulers listed "
                    f"before it in the torch.ChainedScheduler did when built (the lr "
                    f"was {group.lr!r}), which torch then never restores (a ConstantLR "
                    "or LinearLR ending lifts the lr above what it should be); list "
                    "the SequentialLR before them",
                }
            )
        leaf._build_bases(group)
    return errors
