"""The protocol of the torch family: what every torch type tells about its scheduler.

A torch type describes one scheduler as torch steps it on a one-parameter optimizer: what
its constructor does to the param group (`Group`), the affine map of each `step()`, and
the value after stepping from a known lr, in closed form where there is one (else by
stepping the recurrence, `recurrence.Stepper`). `TorchNode` is the base of every
torch type, `Absolute` of those that set the lr outright, `TorchComposite` of
SequentialLR and ChainedScheduler. The few helpers shared by the family's modules
(argument checks, integer epochs, slices of sorted steps) live here too.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import numpy as np
from pydantic import AfterValidator, Field, PrivateAttr

from ..errors import ErrorItem, StepOutOfRange, pointer
from ..expressions import compile_expression
from ..node import Context, Node
from ..params import Rate
from .recurrence import Map, Stepper

if TYPE_CHECKING:
    Schedule = Node


def checked_expression(text: str, variable: str) -> str:
    """`text` once it compiles as an expression in `variable` (raises ValueError if not)."""
    compile_expression(text, variable)
    return text


def as_ints(k: np.ndarray | float) -> np.ndarray:
    """Integral epochs (float64) as int64, for exact integer arithmetic."""
    return np.asarray(k).astype(np.int64)


def is_zero(k0: int | np.ndarray) -> bool:
    """Whether `k0` is the scalar epoch 0 (the usual start, which spares a subtraction)."""
    return not isinstance(k0, np.ndarray) and k0 == 0


def ascending(k: np.ndarray) -> bool:
    """Whether `k` is non-decreasing (a range of steps, the usual query)."""
    return k.size < 2 or bool((k[1:] >= k[:-1]).all())


def from_epoch(k: np.ndarray, first: float) -> slice | np.ndarray:
    """The positions of `k` holding epochs >= `first`: a slice where they are all at the
    end (as in a sorted range of steps), else a boolean mask."""
    below = k < first
    n = int(np.count_nonzero(below))
    if n == 0:
        return slice(None)
    if below[:n].all():
        return slice(n, None)
    return ~below


def between(k: np.ndarray, start: float, end: float | None, in_order: bool) -> slice | np.ndarray:
    """The positions of `k` holding epochs in [start, end) (end None: no end); a slice if
    `k` is `ascending`, else a boolean mask."""
    if in_order:
        lo = int(np.searchsorted(k, start))
        hi = k.size if end is None else int(np.searchsorted(k, end))
        return slice(lo, max(lo, hi))
    return k >= start if end is None else (k >= start) & (k < end)


@dataclass
class Group:
    """The param group of a one-parameter optimizer while schedulers are built on it:
    `lr`, `initial_lr` (None until a scheduler sets it) and the keys OneCycleLR stores
    (`initial_lr`, `max_lr`, `min_lr`, read by OneCycleLR at every step)."""

    lr: float
    initial_lr: float | None = None
    one_cycle: tuple[float, float, float] | None = None

    def set_default_initial(self) -> float:
        """`group.setdefault("initial_lr", group["lr"])`: the base every scheduler
        records in `base_lrs`."""
        if self.initial_lr is None:
            self.initial_lr = self.lr
        return self.initial_lr


@dataclass(frozen=True)
class Env:
    """What a built scheduler reads besides the current lr: its `base_lrs[0]` and the
    group's OneCycleLR keys as they are after every scheduler was built."""

    base: float
    one_cycle: tuple[float, float, float] | None = None
    # A ChainedScheduler's: one environment per scheduler it steps.
    leaves: tuple["Env", ...] = ()


class TorchNode(Node):
    """Base of the torch family.

    `base_lr` is the optimizer's learning rate (`initial_lr`); it is required at the top of
    a torch definition and inherited by the children of a composite (`placement_errors`,
    the family's rule; `tidy_dump` leaves an inherited one out of the normalized form).
    Subclasses describe one scheduler as torch steps it: what its constructor does to the
    param group (`_build`), the map of its constructor's step (`_initial`),
    of `_update_lr(0)` (`_restart`, used by SequentialLR at a milestone) and of `step()`
    reaching epoch k (`_maps`), and the value after stepping from a known lr (`_run`).
    """

    base_lr: Rate | None = Field(
        None,
        description="The optimizer's learning rate (`initial_lr`): required at the top, left "
        "out inside SequentialLR/ChainedScheduler (children inherit it).",
    )
    inherits_base_lr: ClassVar[bool] = True
    # Absolute schedulers set the lr outright (A = 0); the others are chainable.
    absolute: ClassVar[bool] = False
    # Whether torch's get_lr tells the constructor's step from a plain one at epoch 0.
    plain_step0: ClassVar[bool] = False

    _steppers: dict[tuple[float, int], Stepper] = PrivateAttr(default_factory=dict)

    # -- the family's placement rule: `base_lr` at the top, inherited below a composite
    def placement_errors(self, path: str, parent: Node | None) -> list[ErrorItem]:
        if not self.inherits_base_lr:
            return []
        inside = isinstance(parent, TorchComposite)
        if inside and self.base_lr is not None:
            return [
                {
                    "path": path + "/base_lr",
                    "message": "a child of torch.SequentialLR/ChainedScheduler inherits "
                    "`base_lr` from its parent; remove it here",
                }
            ]
        if not inside and self.base_lr is None:
            return [
                {
                    "path": path + "/base_lr",
                    "message": "missing required parameter `base_lr` (the learning rate "
                    "the optimizer was built with)",
                }
            ]
        return []

    # -- evaluation, standalone
    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        k = np.floor(t)
        self._check_limit(k)
        group = Group(lr=self.base_lr if self.base_lr is not None else 0.0)
        base = self._build(group)
        return self._run(group.lr, 0, k, Env(base, group.one_cycle))

    def horizon(self, ctx: Context) -> int | None:
        return self._settles()

    def stepped_steps(self, max_step: int) -> int:
        # A cumulative scheduler is stepped from epoch 0 up to the largest step queried.
        limit = self._limit()
        return 0 if limit is None else min(max_step, limit)

    # -- the protocol
    def _build(self, group: Group) -> float:
        """Apply the constructor to `group`; returns the scheduler's `base_lrs[0]`."""
        base = group.set_default_initial()
        group.lr = self._initial(group.lr, Env(base, group.one_cycle))
        return base

    def _build_bases(self, group: Group) -> list[float]:
        """Build this scheduler (a composite: each it contains) on `group`; the
        `base_lrs[0]` of each, in order."""
        return [self._build(group)]

    def _env(self, bases: list[float], one_cycle: tuple[float, float, float] | None) -> Env:
        """The environment once everything is built, from `_build_bases`' result."""
        return Env(bases[0], one_cycle)

    def _n_bases(self) -> int:
        """How many `base_lrs[0]` `_build_bases` returns (a composite: one per scheduler)."""
        return 1

    def _step0(self, lr: float, env: Env) -> float:
        """A plain `step()` reaching epoch 0 (not the constructor's): what a
        ChainedScheduler started by SequentialLR does to each scheduler it steps. The
        same as the constructor's step except where torch's `get_lr` checks
        `_is_initial` (`plain_step0`: then it is the map of a step reaching epoch 0)."""
        if self.plain_step0:
            return float(self._apply(np.zeros(1), np.array([lr]), env)[0])
        return self._initial(lr, env)

    def _initial(self, lr: float, env: Env) -> float:
        """The constructor's step (last_epoch 0, `_is_initial`): unchanged by default."""
        return lr

    def _restart(self, lr: float, env: Env) -> float:
        """`_update_lr(0)`: the closed form at epoch 0 (or get_lr where there is none)."""
        return env.base

    def _maps(self, k: np.ndarray, env: Env) -> Map:
        """(A, B) of the `step()` that reaches epoch k >= 1; B None means 0."""
        raise NotImplementedError

    def _apply(self, k: np.ndarray, x: np.ndarray, env: Env) -> np.ndarray:
        """The step reaching epoch k applied to the current lrs `x`."""
        a, b = self._maps(k, env)
        return a * x if b is None else a * x + b

    def _factor(self, k0: int | np.ndarray, k: np.ndarray) -> np.ndarray | None:
        """Product of the multipliers A over epochs (k0, k] in closed form (chainable
        multiplicative types), or None where there is none. A new array, exactly 1.0
        where k == k0."""
        return None

    def _run(self, lr0: float, k0: int, k: np.ndarray, env: Env) -> np.ndarray:
        """Values at epochs k >= k0 when the lr is `lr0` at epoch k0 (a new array)."""
        factor = self._factor(k0, k)
        if factor is None:
            return self._stepper(lr0, k0, env)(k)
        return np.multiply(factor, lr0, out=factor)  # lr0 itself where k == k0

    def _settles(self) -> int | None:
        """First epoch after which `step()` changes nothing any more (chainable: the maps
        are the identity; absolute: the value is constant), or None."""
        return None

    def _limit(self) -> int | None:
        """The last epoch this scheduler can be evaluated at, or None (no limit)."""
        return None

    # -- helpers
    def _stepper(self, lr0: float, k0: int, env: Env) -> Stepper:
        key = (lr0, k0)
        if key not in self._steppers:
            self._steppers[key] = Stepper(lambda k: self._maps(k, env), k0, lr0)
        return self._steppers[key]

    def _check_limit(self, k: np.ndarray) -> None:
        """Raise StepOutOfRange naming the first epoch in `k` beyond `_limit()`."""
        limit = self._limit()
        if limit is None or not k.size or k.max() <= limit:
            return
        step = int(k[k > limit][0])
        name = type(self).model_fields["type"].default
        raise StepOutOfRange(
            step,
            limit,
            f"step {step} is out of range: this {name} is cumulative (it is computed by "
            f"stepping it as torch does) and is evaluated up to step {limit:,} only",
            self._path,
        )


def split_envs(
    children: list[TorchNode], bases: list[float], one_cycle: tuple[float, float, float] | None
) -> tuple[Env, ...]:
    """Each child's environment, from the flat `bases` their `_build_bases` returned."""
    envs: list[Env] = []
    at = 0
    for child in children:
        n = child._n_bases()
        envs.append(child._env(bases[at : at + n], one_cycle))
        at += n
    return tuple(envs)


class Absolute(TorchNode):
    """A scheduler whose `get_lr` ignores the current lr."""

    absolute: ClassVar[bool] = True

    def _value(self, k: np.ndarray, env: Env) -> np.ndarray:
        """torch's lr at epochs k (a new array)."""
        raise NotImplementedError

    def _value0(self, env: Env) -> float:
        return float(self._value(np.zeros(1), env)[0])

    def _initial(self, lr: float, env: Env) -> float:
        return self._value0(env)

    def _restart(self, lr: float, env: Env) -> float:
        return self._value0(env)

    def _maps(self, k: np.ndarray, env: Env) -> Map:
        return np.zeros(k.shape), self._value(k, env)

    def _run(self, lr0: float, k0: int, k: np.ndarray, env: Env) -> np.ndarray:
        # The value at k0 was computed already (by the constructor or a restart), so
        # computing it again raises nothing new; it is replaced by lr0.
        out = self._value(k, env)
        out[np.flatnonzero(k == k0)] = lr0
        return out


def _torch_child(node: Node) -> Node:
    # Which composites may nest where depends on the position: see the composites'
    # `placement_errors`.
    if not isinstance(node, TorchNode):
        kind = getattr(node, "type", "?")
        raise ValueError(
            "a child of torch.SequentialLR/ChainedScheduler must be a torch scheduler "
            f"(torch.StepLR, torch.LinearLR, ...). Received: type={kind!r}"
        )
    return node


TorchChild = Annotated["Schedule", AfterValidator(_torch_child)]


class TorchComposite(TorchNode):
    """SequentialLR and ChainedScheduler: children are torch schedulers built on the same
    optimizer; they inherit the parent's `base_lr`."""

    schedulers: list[TorchChild] = Field(
        min_length=1, description="The torch schedulers, built in order on one optimizer."
    )

    # Whether this composite restarts its children at milestones (SequentialLR), which
    # decides what may nest in it.
    restarts_children: ClassVar[bool] = False

    def children(self) -> list[tuple[str, Node]]:
        return [(pointer("schedulers", i), s) for i, s in enumerate(self.schedulers)]

    def start_of(self, child: TorchNode) -> int | None:
        """The epoch at which this composite starts `child` afresh, or None where it does
        not (a ChainedScheduler steps its children from the start)."""
        return None

    def tidy_dump(self, data: dict[str, Any]) -> None:
        # A child's absent `base_lr` is inherited: the normalized form leaves it out.
        for child, child_data in zip(self.schedulers, data["schedulers"], strict=True):
            if isinstance(child, TorchNode) and child.base_lr is None:
                child_data.pop("base_lr", None)

    def _built(self) -> tuple[Group, list[Env]]:
        """The group and each child's environment after all children were built."""
        group = Group(lr=self.base_lr if self.base_lr is not None else 0.0)
        children = self._children()
        bases = [child._build_bases(group) for child in children]
        return group, [c._env(b, group.one_cycle) for c, b in zip(children, bases, strict=True)]

    def _children(self) -> list[TorchNode]:
        return [s for s in self.schedulers if isinstance(s, TorchNode)]
