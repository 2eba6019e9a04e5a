"""PyTorch shims: an `lr_lambda` for LambdaLR, and an LRScheduler that sets the lr.

Both are pure functions of the step counter, so resuming from `state_dict()` or from
`last_epoch` gives the uninterrupted run's lrs. Both keep only the schedule's identity
(reference, digest, sizes, base lr) in their state: a checkpoint stays a few hundred
bytes whatever the curve's length and never holds a token, a URL or the values; a
restored shim finds the values in the memory cache, the disk cache, or the server.

`TorchLambda` needs no torch (data-loader workers and pickles stay light); torch is
imported when `RegistryLR` is first used. Its hot path is one attribute store (the step,
for the observer) and one dict lookup and one array index: `FACTORS[key][step]`, the
factor tables of this module, which follow their curve as chunks arrive
(`Curve.subscribe`).

Observation (`stepsize.observe`): a `TorchLambda` given an optimizer and every
`RegistryLR` install (once per optimizer) a step post-hook that checks the lr each
update applied in every param group against the registry's, reports it to the run and
gives a follower its turn. Both shims follow their track: when a follower switches it
to an amendment, they take its identity (later lookups read the new curve, checkpoints
save the new identity).
"""

from __future__ import annotations

import array
import math
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from . import curves
from .curves import Curve
from .disk import CurveKey
from .pinning import Identity, Pinning, curve_for
from .steps import MAX_VALUES_PER_REQUEST, check_step
from .torch_definitions import definition_from_torch
from .torch_observe import StepObserver, watch_optimizer
from .track import Track

__all__ = [  # RegistryLR is built on first use (see __getattr__)
    "RegistryLR",
    "TorchLambda",
    "base_lr_of",
    "definition_from_torch",
    "exact_factors",
    "factor_table",
    "reference_group",
]


def exact_factors(values: np.ndarray, base: float) -> np.ndarray:
    """`values / base`, nudged by one ulp where needed so that `base * f == value` exactly."""
    f = values / base
    for direction in (np.inf, -np.inf):
        bad = base * f != values
        if not bad.any():
            break
        candidate = np.nextafter(f, direction)
        fixed = bad & (base * candidate == values)
        f[fixed] = candidate[fixed]
    return f


# What TorchLambda reads on its hot path: factor tables by `factor_key` (a str: its hash
# is cached), and the tables of each curve, by curve key.
FACTORS: dict[str, array.array[float]] = {}
_TABLES: dict[CurveKey, FactorTables] = {}


def factor_key(key: CurveKey, base_lr: float) -> str:
    """The FACTORS key of a curve's factor table for `base_lr`."""
    return f"{key[0]}|{key[1]}|{base_lr!r}"


class FactorTables:
    """`lr / base_lr` of one curve for steps `[0, fast_end)`, one table per base lr.

    `fast_end` stops `margin` steps short of the loaded prefix (unless the run ends
    there), so that lookups near its end go through `Curve.value`, which prefetches.
    """

    def __init__(self, curve: Curve) -> None:
        self.curve = curve
        self.fast_end = 0
        self.tables: dict[float, array.array[float]] = {}
        curve.subscribe(self.advance)

    def _end(self) -> int:
        curve = self.curve
        loaded = curve.loaded_steps
        if curve.horizon is not None and loaded > curve.horizon:
            # past the horizon the curve is constant: the table runs to total_steps too
            return max(curve.horizon + 1, min((curve.total_steps or 0) + 1, MAX_VALUES_PER_REQUEST))
        limit = loaded - curve.margin
        if curve.total_steps is not None:
            limit = max(limit, min(loaded, curve.total_steps + 1))
        return max(limit, 0)

    def advance(self, curve: Curve) -> None:
        """Extend every table to the new `fast_end` (called under `curve.lock`)."""
        end = self._end()
        if end <= self.fast_end:
            return
        if self.tables:
            piece = curve.loaded_slice(self.fast_end, end)
            for base, table in self.tables.items():
                table.frombytes(exact_factors(piece, base).tobytes())
        self.fast_end = end

    def table(self, base_lr: float) -> array.array[float]:
        """The table for `base_lr` (made on first use, published in FACTORS)."""
        with self.curve.lock:
            table = self.tables.get(base_lr)
            if table is None:
                table = array.array("d")
                if self.fast_end:
                    piece = self.curve.loaded_slice(0, self.fast_end)
                    table.frombytes(exact_factors(piece, base_lr).tobytes())
                self.tables[base_lr] = table
                FACTORS[factor_key(self.curve.key, base_lr)] = table
            return table


def factor_table(curve: Curve, base_lr: float) -> array.array[float]:
    """`lr / base_lr` of `curve` for steps `[0, fast_end)`, kept up to date as chunks arrive."""
    with curve.lock:
        tables = _TABLES.get(curve.key)
        if tables is None or tables.curve is not curve:
            tables = _TABLES[curve.key] = FactorTables(curve)
        return tables.table(base_lr)


def _forget_tables() -> None:
    FACTORS.clear()
    _TABLES.clear()


curves.on_forget(_forget_tables)


def reference_group(optimizer: Any, group: int | str | None = None) -> int:
    """The index of the param group whose lr is the registry's value.

    `group` names it (an index, or the value of a group's `"name"` key, Lightning's
    convention); None picks the first group whose initial lr (`initial_lr`, else `lr`)
    is not 0, so that a frozen group with lr 0 never becomes the reference. Raises
    ValueError when `group` matches no group or no group has a nonzero lr, TypeError
    for a `group` of another type.
    """
    groups = optimizer.param_groups
    if group is None:
        for index, candidate in enumerate(groups):
            if float(candidate.get("initial_lr", candidate["lr"])) != 0:
                return index
        raise ValueError(
            "every param group has lr 0, so no group can carry the registry's value; "
            "give some group a nonzero lr"
        )
    if isinstance(group, bool) or not isinstance(group, (int, str)):
        raise TypeError(f"Argument `group` must be an index or a group name. Received: {group!r}")
    if isinstance(group, int):
        if not -len(groups) <= group < len(groups):
            raise ValueError(
                f"Argument `group` must be < {len(groups)} (the optimizer's param groups). "
                f"Received: group={group}"
            )
        return group % len(groups)
    names = [candidate.get("name") for candidate in groups]
    if group not in names:
        raise ValueError(
            f"Argument `group` names no param group (their names: {names}). "
            f"Received: group={group!r}"
        )
    return names.index(group)


def base_lr_of(optimizer_or_base_lr: Any, *, group: int | str | None = None) -> float:
    """The initial lr of the reference group (`initial_lr` if a scheduler set it; see
    `reference_group`), or the number given. Raises ValueError when it is not finite
    and > 0, TypeError for anything but an optimizer or a number."""
    if isinstance(optimizer_or_base_lr, (int, float)) and not isinstance(
        optimizer_or_base_lr, bool
    ):
        base = float(optimizer_or_base_lr)
    elif hasattr(optimizer_or_base_lr, "param_groups"):
        ref = optimizer_or_base_lr.param_groups[reference_group(optimizer_or_base_lr, group)]
        base = float(ref.get("initial_lr", ref["lr"]))
    else:
        raise TypeError(
            "Argument `optimizer_or_base_lr` must be a torch optimizer or a number. "
            f"Received: {type(optimizer_or_base_lr).__name__}"
        )
    if not (math.isfinite(base) and base > 0):
        raise ValueError(
            f"The base lr must be finite and > 0 to divide by it. Received: base_lr={base}"
        )
    return base


# The client whose pinning a lambda restores through (kept beside the lambda, not in its
# __dict__, which LambdaLR.state_dict() copies into checkpoints).
_LAMBDA_PINNINGS: weakref.WeakKeyDictionary[TorchLambda, Pinning] = weakref.WeakKeyDictionary()


class TorchLambda:
    """`lr_lambda(step) = registry lr(step) / base_lr`, for `LambdaLR`.

    LambdaLR multiplies the factor by each group's initial lr, so the reference group
    (whose initial lr is `base_lr`: see `reference_group`) gets exactly the registry's
    value and every other group keeps its ratio to it (a group with lr 0 stays at 0).
    With one lambda per group (`LambdaLR(opt, [lam_a, lam_b])`) each lambda keeps its
    own schedule and base.
    The factors are nudged by one ulp where needed so that `base_lr * factor` is the
    registry's float64 value exactly.

    `LambdaLR.state_dict()` copies this object's `__dict__`: it holds only the identity,
    the reference group's index (`group`, None without an optimizer) and `last_step`,
    the step it was last called with (LambdaLR's counter, which a resumed lambda gets
    back from the checkpoint: the observer's base).
    Given an optimizer, it observes the optimizer's updates (`stepsize.observe`).
    Raises `ScheduleUnavailable` (after a bounded wait) for a step whose values cannot
    be had, never a guess.
    """

    observed_kind = "lambda"
    observed_key_name = "key"

    def __init__(
        self,
        identity: Identity,
        base_lr: float,
        pinning: Pinning | None = None,
        *,
        track: Track | None = None,
        optimizer: Any = None,
        group: int | str | None = None,
    ) -> None:
        self.ref = identity.ref
        self.digest = identity.digest
        self.horizon = identity.horizon
        self.total_steps = identity.total_steps
        self.steps_per_epoch = identity.steps_per_epoch
        self.base_lr = float(base_lr)
        self.key = factor_key(identity.key, self.base_lr)
        self.group = reference_group(optimizer, group) if optimizer is not None else None
        self.last_step = -1
        if pinning is not None:
            _LAMBDA_PINNINGS[self] = pinning
        curve = curve_for(identity, pinning)
        factor_table(curve, self.base_lr)
        if optimizer is not None:
            track = track if track is not None else Track(identity, curve)
            # subscribed before the observer: it sees the new identity on a switch
            track.subscribe(_following(self))
            watch_optimizer(optimizer, track, self)

    def __call__(self, step: int) -> float:
        self.last_step = step
        try:
            if step >= 0:
                return FACTORS[self.key][step]
        except (KeyError, IndexError, TypeError):
            pass
        return self._lookup(step)

    def _lookup(self, step: Any) -> float:
        step = check_step(step)
        curve = curves.lookup((self.digest, self.steps_per_epoch))
        if curve is None or self.key not in FACTORS:
            # restored (pickle, load_state_dict): through the client that built this lambda
            curve = curve_for(self.identity, _LAMBDA_PINNINGS.get(self))
            factor_table(curve, self.base_lr)
        return float(exact_factors(np.array([curve.value(step)]), self.base_lr)[0])

    @property
    def identity(self) -> Identity:
        """The pinned schedule this lambda follows."""
        return Identity(self.ref, self.digest, self.horizon, self.total_steps, self.steps_per_epoch)

    def __repr__(self) -> str:
        return f"TorchLambda({self.ref!r}, base_lr={self.base_lr})"

    def follow(self, identity: Identity, curve: Curve) -> None:
        """Follow `identity` (whose `curve` is loaded) from the next call on."""
        factor_table(curve, self.base_lr)
        self.ref, self.digest = identity.ref, identity.digest
        self.horizon, self.total_steps = identity.horizon, identity.total_steps
        self.steps_per_epoch = identity.steps_per_epoch
        self.key = factor_key(identity.key, self.base_lr)

    # what the observer of its optimizer reads (stepsize.torch_observe.ObservedShim)

    def observed_counter(self) -> int | None:
        return self.last_step if isinstance(self.last_step, int) else None

    def observed_curve(self) -> Curve:
        curve = curves.lookup((self.digest, self.steps_per_epoch))
        return curve if curve is not None else curve_for(self.identity, _LAMBDA_PINNINGS.get(self))

    def observed_group(self) -> int:
        return self.group or 0


def _following(shim: Any) -> Callable[[Identity, Curve], None]:
    """A track subscriber calling `shim.follow` while the shim lives (the track may
    outlive a scheduler and its lambda)."""
    ref = weakref.ref(shim)

    def switched(identity: Identity, curve: Curve) -> None:
        alive = ref()
        if alive is not None:
            alive.follow(identity, curve)

    return switched


def _registry_lr_class() -> type:
    import torch
    from torch.optim.lr_scheduler import LRScheduler

    class RegistryLR(LRScheduler):
        """An LRScheduler whose lr after `n` calls of `step()` is the registry's lr at step `n`.

        The reference group (`reference_group`: `group`, else the first with a nonzero
        initial lr) gets the registry's value; every other group keeps its ratio to it:
        `lr_i = lr * initial_lr_i / initial_lr_ref`. A tensor lr is filled in place, and
        `step()` runs eagerly under `torch.compile` (one graph break, no recompiles).
        `state_dict()` holds the identity, the reference group and the counter, as
        primitives (loads with `torch.load(weights_only=True)`). `last_epoch=k` resumes
        after k steps (lr of step k), unlike torch's own schedulers, which land at k + 1.
        It observes the optimizer's updates (`stepsize.observe`) and follows its track's
        switches. Raises `ScheduleUnavailable` at construction (and in
        `load_state_dict`) when the values are neither cached nor reachable, ValueError
        when no group can be the reference.
        """

        observed_kind = "scheduler"
        observed_key_name = "stepsize"

        def __init__(
            self,
            optimizer: Any,
            identity: Identity,
            last_epoch: int = -1,
            *,
            group: int | str | None = None,
            pinning: Pinning | None = None,
            track: Track | None = None,
        ) -> None:
            self.stepsize = identity.as_dict()
            self.stepsize_group = reference_group(optimizer, group)
            self._stepsize_pinning = pinning
            curve = curve_for(identity, pinning)  # fail here, not at the first step
            if last_epoch > 0:
                for g in optimizer.param_groups:
                    g.setdefault("initial_lr", g["lr"])
                super().__init__(optimizer, last_epoch - 1)
            else:
                super().__init__(optimizer, -1)
            track = track if track is not None else Track(identity, curve)
            track.subscribe(_following(self))  # before the observer: see TorchLambda
            self._stepsize_observer: StepObserver = watch_optimizer(optimizer, track, self)

        @property
        def ref(self) -> str:
            """The pinned reference this scheduler follows (`ns/name@VERSION`)."""
            return str(self.stepsize["ref"])

        @property
        def observer(self) -> StepObserver:
            """What checks the lr of its optimizer's updates: `checked`, `mismatches`,
            `first_mismatch`, and `run` (the run it reports to, None when runs are off)."""
            return self._stepsize_observer

        def state_dict(self) -> dict[str, Any]:
            """The LRScheduler state without the client and the observer (never
            checkpointed)."""
            state = super().state_dict()
            state.pop("_stepsize_pinning", None)
            state.pop("_stepsize_observer", None)
            return state

        def follow(self, identity: Identity, curve: Curve) -> None:
            """Follow `identity` (whose `curve` is loaded) from the next `step()` on."""
            self.stepsize = identity.as_dict()

        def observed_counter(self) -> int | None:
            return int(self.last_epoch)

        def observed_curve(self) -> Curve:
            return self._curve()

        def observed_group(self) -> int:
            return int(getattr(self, "stepsize_group", 0))

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            """Load a checkpointed state; its schedule's values are loaded first (through
            the client that built this scheduler, else the default), so a failure raises
            `ScheduleUnavailable` here and leaves this scheduler as it was."""
            saved = state_dict.get("stepsize")
            if isinstance(saved, dict):
                curve_for(Identity(**saved), self._stepsize_pinning)
            pinning, observer = self._stepsize_pinning, self._stepsize_observer
            super().load_state_dict(state_dict)
            self._stepsize_pinning, self._stepsize_observer = pinning, observer
            observer.rebase()  # the counter is the checkpoint's now

        def _curve(self) -> Curve:
            ident = self.stepsize
            curve = curves.lookup((ident["digest"], ident["steps_per_epoch"]))
            if curve is not None:
                return curve
            return curve_for(Identity(**ident), self._stepsize_pinning)

        def get_lr(self) -> list[Any]:
            lr = self._curve().value(check_step(self.last_epoch))
            bases = [float(base) for base in self.base_lrs]
            ref = bases[getattr(self, "stepsize_group", 0)]
            return [lr if base == ref else lr * (base / ref) for base in bases]

        _get_closed_form_lr = get_lr

        # A table lookup in Python: traced by dynamo it would guard on the counter and
        # recompile every step; run eagerly, it fills the tensor lr in place.
        @torch.compiler.disable
        def step(self, epoch: int | None = None) -> None:
            super().step(epoch)

    RegistryLR.__module__ = __name__
    return RegistryLR


if TYPE_CHECKING:  # what __getattr__ builds, for the type checker
    RegistryLR: type[Any]


def __getattr__(name: str) -> Any:
    if name == "RegistryLR":  # built on first use so that importing this module needs no torch
        cls = _registry_lr_class()
        globals()["RegistryLR"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
