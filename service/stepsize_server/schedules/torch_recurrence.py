"""How torch steps a scheduler: the protocol of the torch family and its recurrences.

torch's chainable schedulers update the optimizer's *current* learning rate: every
`scheduler.step()` is an affine map of it, `lr_N = A_N * lr_(N-1) + B_N` (B = 0 for the
multiplicative ones, A = 0 for the absolute ones, which set the lr outright). This module
holds:

- `TorchNode`, the base of every torch type, and the protocol the types implement: what
  a constructor does to the optimizer's param group (`Group`), the maps of its steps, and
  the value after stepping from a known lr; `TorchComposite` and `Absolute` build on it;
- `Stepper`: the recurrence evaluated by stepping, for what has no closed form
  (MultiplicativeLR with a general lambda, some ChainedScheduler combinations),
  vectorized chunk by chunk: multiplicative chunks with `np.cumprod` (left to right, as
  torch's loop multiplies), affine ones with a Hillis–Steele prefix scan of the maps.
  The value entering each chunk is kept (a few hundred floats), so a later query only
  computes the chunks holding its steps. Nothing beyond `STEP_LIMIT` is computed:
  `TorchNode` raises `StepOutOfRange` for such steps.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, ClassVar

import numpy as np
from pydantic import AfterValidator, Field, PrivateAttr

from .base import Context, Node, Rate
from .errors import StepOutOfRange, pointer

STEP_LIMIT = 10_000_000
"""The largest step a cumulative torch schedule is evaluated at."""

CHUNK = 1 << 16

Map = tuple[np.ndarray, np.ndarray | None]
"""Affine maps (A, B), elementwise; B None means 0."""
Maps = Callable[[np.ndarray], Map]
"""Epochs (float64, integral) -> the maps of the steps reaching them."""

if TYPE_CHECKING:
    Schedule = Node


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


def affine_scan(a: np.ndarray, b: np.ndarray | None, x0: float) -> np.ndarray:
    """x[i] = a[i] * x[i-1] + b[i] for every i, with x[-1] = x0.

    With b None the recurrence is multiplicative and is computed with a left-to-right
    cumulative product (bit for bit what a loop computes); otherwise with Hillis–Steele
    doubling over the composed maps."""
    if a.size == 0:
        return np.empty(0, dtype=np.float64)
    if b is None:
        return np.cumprod(np.concatenate(([x0], a)))[1:]
    a = a.astype(np.float64, copy=True)
    b = b.astype(np.float64, copy=True)
    d = 1
    while d < a.size:
        # Map i becomes (map i) o (map i-d): x -> a_i * (a_(i-d) * x + b_(i-d)) + b_i.
        b[d:] = a[d:] * b[:-d] + b[d:]
        a[d:] = a[d:] * a[:-d]
        d *= 2
    return a * x0 + b


class Stepper:
    """The values x_k, k >= start, of x_k = A_k * x_(k-1) + B_k from x_start = x0.

    Chunks of `CHUNK` steps are computed in order; the value entering each full chunk is
    kept, so a later call starts from the nearest kept value below the steps it needs.
    Thread-safe (a lock around the computation)."""

    def __init__(self, maps: Maps, start: int, x0: float) -> None:
        self._maps = maps
        self._start = start
        self._entry: dict[int, float] = {0: x0}  # chunk index -> value entering it
        self._lock = threading.Lock()

    def __call__(self, k: np.ndarray) -> np.ndarray:
        """Values at epochs `k` (float64, integral, >= start). The caller bounds k."""
        rel = k.astype(np.int64) - self._start
        out = np.empty(k.shape, dtype=np.float64)
        at_start = rel <= 0
        out[at_start] = self._entry[0]
        if at_start.all():
            return out
        chunk = (rel - 1) // CHUNK
        with self._lock:
            for j in np.unique(chunk[~at_start]).tolist():
                mask = (chunk == j) & ~at_start
                last = int(rel[mask].max())
                values = self._chunk(j, self._entry_of(j), last)
                out[mask] = values[rel[mask] - j * CHUNK - 1]
        return out

    def _entry_of(self, j: int) -> float:
        if j in self._entry:
            return self._entry[j]
        i = max(c for c in self._entry if c < j)
        x = self._entry[i]
        while i < j:
            x = float(self._chunk(i, x, (i + 1) * CHUNK)[-1])
            i += 1
        return x

    def _chunk(self, j: int, x: float, last: int) -> np.ndarray:
        """Values at relative steps j*CHUNK+1 .. min(last, (j+1)*CHUNK)."""
        end = min(last, (j + 1) * CHUNK)
        epochs = np.arange(j * CHUNK + 1, end + 1, dtype=np.float64) + self._start
        a, b = self._maps(epochs)
        values = affine_scan(a, b, x)
        if end == (j + 1) * CHUNK:
            self._entry[j + 1] = float(values[-1])
        return values


def compose(first: Map, then: Map) -> Map:
    """The affine map `then o first` (elementwise)."""
    a1, b1 = first
    a2, b2 = then
    a = a2 * a1
    if b1 is None and b2 is None:
        return a, None
    b = a2 * b1 if b1 is not None else np.zeros_like(a)
    return a, b if b2 is None else b + b2


# -- the protocol of the family's nodes ------------------------------------------------------


class TorchNode(Node):
    """Base of the torch family.

    `base_lr` is the optimizer's learning rate (`initial_lr`); it is required at the top of
    a torch definition and inherited by the children of a composite (checked by the
    language). Subclasses describe one scheduler as torch steps it: what its constructor
    does to the param group (`_build`), the map of its constructor's step (`_initial`),
    of `_update_lr(0)` (`_restart`, used by SequentialLR at a milestone) and of `step()`
    reaching epoch k (`_maps`), and the value after stepping from a known lr (`_run`).
    """

    base_lr: Rate | None = None
    inherits_base_lr: ClassVar[bool] = True
    # Absolute schedulers set the lr outright (A = 0); the others are chainable.
    absolute: ClassVar[bool] = False

    _steppers: dict[tuple[float, int], Stepper] = PrivateAttr(default_factory=dict)

    # -- evaluation, standalone
    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        k = np.floor(t)
        self._check_limit(k)
        group = Group(lr=self.base_lr if self.base_lr is not None else 0.0)
        base = self._build(group)
        return self._run(group.lr, 0, k, Env(base, group.one_cycle))

    def horizon(self, ctx: Context) -> int | None:
        return self._settles()

    # -- the protocol
    def _build(self, group: Group) -> float:
        """Apply the constructor to `group`; returns the scheduler's `base_lrs[0]`."""
        base = group.set_default_initial()
        group.lr = self._initial(group.lr, Env(base, group.one_cycle))
        return base

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
        multiplicative types), or None where there is none."""
        return None

    def _run(self, lr0: float, k0: int, k: np.ndarray, env: Env) -> np.ndarray:
        """Values at epochs k >= k0 when the lr is `lr0` at epoch k0."""
        factor = self._factor(k0, k)
        if factor is None:
            return self._stepper(lr0, k0, env)(k)
        return np.where(k == k0, lr0, lr0 * factor)

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


def _torch_child(node: Node) -> Node:
    if isinstance(node, TorchComposite):
        raise ValueError(
            "torch.SequentialLR and torch.ChainedScheduler cannot be nested (torch cannot "
            "restart or re-initialise a composite); list the inner schedulers here instead"
        )
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

    schedulers: list[TorchChild] = Field(min_length=1)

    def children(self) -> list[tuple[str, Node]]:
        return [(pointer("schedulers", i), s) for i, s in enumerate(self.schedulers)]

    def _built(self) -> tuple[Group, list[Env]]:
        """The group and each child's environment after all children were built."""
        group = Group(lr=self.base_lr if self.base_lr is not None else 0.0)
        bases = [child._build(group) for child in self._children()]
        return group, [Env(b, group.one_cycle) for b in bases]

    def _children(self) -> list[TorchNode]:
        return [s for s in self.schedulers if isinstance(s, TorchNode)]


class Absolute(TorchNode):
    """A scheduler whose `get_lr` ignores the current lr."""

    absolute: ClassVar[bool] = True

    def _value(self, k: np.ndarray, env: Env) -> np.ndarray:
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
        out = np.full(k.shape, lr0, dtype=np.float64)
        later = k != k0
        if later.any():
            out[later] = self._value(k[later], env)
        return out
