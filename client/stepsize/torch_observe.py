"""The torch part of observation: one step post-hook per optimizer (`watch_optimizer`),
and its `StepObserver`, an `observe.Observer` whose update counter is its own.

See `stepsize.observe` for what is checked and reported; see `StepObserver` for where
its counter's base comes from. torch is imported only when a hook is installed.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any, Protocol

from .curves import Curve
from .observe import CUDA_EVERY, RTOL, Observer
from .track import Track

__all__ = ["ObservedShim", "StepObserver", "watch_optimizer"]

log = logging.getLogger("stepsize")


class ObservedShim(Protocol):
    """What a torch shim tells the observer of its optimizer (stepsize.torch's shims)."""

    observed_kind: str  # "lambda" (LambdaLR's factor) or "scheduler" (sets every group)
    # the attribute that is another object when the shim follows another curve (read at
    # every update, so an attribute rather than a call)
    observed_key_name: str

    def observed_counter(self) -> int | None:
        """The step of the lr the shim set last (None or < 0: it drives no scheduler)."""

    def observed_curve(self) -> Curve:
        """The curve the shim follows now."""

    def observed_group(self) -> int:
        """The reference group's index in the optimizer."""


class StepObserver(Observer):
    """The observer of one torch shim on one optimizer, called by its step post-hook.

    Its update counter is its own, so that a scheduler stepped twice is caught. Its base,
    taken at the first update it sees (again after `rebase`: the shim's or the
    optimizer's `load_state_dict`): the optimizer's own count of updates (the `step` of
    its parameter states, Adam's and most others') when it has one past the first
    update, so that a resume that restored the optimizer but not the scheduler is
    caught; else the shim's counter (`observed_counter`: RegistryLR's `last_epoch`, the
    last step a `TorchLambda` was called with, restored by `LambdaLR.load_state_dict`).
    A lambda governs every group unless other lambdas with other reference groups share
    its optimizer (one lambda per group): then it checks its own group only.
    Tensor lrs are read with `.item()`; a CUDA one every `CUDA_EVERY` updates only.
    """

    def __init__(self, track: Track, shim: ObservedShim, watch: OptimizerWatch) -> None:
        super().__init__(track, label=track.identity.ref)
        self.shim = weakref.ref(shim)
        self.kind = shim.observed_kind
        self._key_name = shim.observed_key_name  # a class constant of the shim
        self.watch = watch
        self.next_update: int | None = None
        self.every = 1
        self._tensor = False
        self._ngroups = -1
        self._key: object = None
        self._only = -1  # the one group checked, when there is one

    def counter(self) -> int | None:
        shim = self.shim()
        return shim.observed_counter() if shim is not None else None

    def rebase(self) -> None:
        """Take the base again at the next update (a state was loaded)."""
        self.next_update = None

    def regroup(self) -> None:
        """Work out again at the next update which groups this observer checks."""
        self._ngroups = -1

    def _switched(self, identity: Any, curve: Curve) -> None:
        # the shim subscribed to the track before this observer: it follows `identity`
        # already, so its key is the new one and no rebase follows from it
        super()._switched(identity, curve)
        shim = self.shim()
        if shim is not None:
            self._key = getattr(shim, shim.observed_key_name)

    def after_step(self, optimizer: Any, groups: list[dict[str, Any]]) -> None:
        shim = self.shim()
        update = self.next_update
        if (
            update is None
            or shim is None
            or getattr(shim, self._key_name) is not self._key
            or len(groups) != self._ngroups
        ):
            update = self._renew(optimizer, shim, groups)
            if update is None:
                return
        self.next_update = update + 1
        if not self._tensor:
            only = self._only
            if only >= 0:  # one group checked: no list comprehension (a frame in 3.11)
                self.check(update, (groups[only]["lr"],))
            else:
                self.check(update, [groups[i]["lr"] for i in self.groups])
        elif update % self.every == 0 or update == self.first_update:
            self.check(update, [float(groups[i]["lr"]) for i in self.groups])
        else:
            self.passed(update)

    def _renew(
        self, optimizer: Any, shim: ObservedShim | None, groups: list[dict[str, Any]]
    ) -> int | None:
        """The update just made, after taking what changed into account: the base (first
        update, or a state loaded: `rebase`), the shim's curve, the groups. None when
        this observer has nothing to observe any more (it detached)."""
        if shim is None:
            self.watch.detach(self)  # the scheduler is gone
            return None
        if self.next_update is None:
            return self._rebase(optimizer, shim, groups)
        key = getattr(shim, shim.observed_key_name)
        if key is not self._key:
            if key != self._key:  # LambdaLR.load_state_dict gave the lambda another identity
                self.curve = shim.observed_curve()
                self.next_update = None
                return self._rebase(optimizer, shim, groups)
            self._key = key
        self._regroup(shim, groups)
        return self.next_update

    def _rebase(
        self, optimizer: Any, shim: ObservedShim, groups: list[dict[str, Any]]
    ) -> int | None:
        counter = shim.observed_counter()
        if counter is None or counter < 0:
            self.watch.detach(self)  # built with this optimizer, but drives no scheduler
            return None
        own = optimizer_updates(optimizer)
        base = own if own is not None and own > 0 else counter
        self.first_update, self.first_counter = base, counter
        self._key = getattr(shim, shim.observed_key_name)
        self.curve = shim.observed_curve()
        self._regroup(shim, groups)
        return base

    def _regroup(self, shim: ObservedShim, groups: list[dict[str, Any]]) -> None:
        reference = shim.observed_group() % len(groups)
        alone = self.kind == "scheduler" or not any(
            other.kind == "lambda" and other._reference_group() != reference
            for other in self.watch.observers
            if other is not self
        )
        self.groups = list(range(len(groups))) if alone else [reference]
        self._only = self.groups[0] if len(self.groups) == 1 else -1
        initial = [float(g.get("initial_lr", g["lr"])) for g in groups]
        base = initial[reference]
        self.ratios = [1.0 if i == reference else initial[i] / base for i in self.groups]
        self.reference = self.groups.index(reference)
        self._ngroups = len(groups)
        lrs = [g["lr"] for g in groups]
        self._tensor = any(hasattr(lr, "item") for lr in lrs)
        self.every, self.rtol = 1, RTOL
        for lr in lrs:
            if hasattr(lr, "item"):
                import torch

                self.rtol = max(self.rtol, float(torch.finfo(lr.dtype).eps))
                if lr.device.type != "cpu":
                    self.every = CUDA_EVERY

    def _reference_group(self) -> int:
        shim = self.shim()
        return shim.observed_group() if shim is not None else -1


def optimizer_updates(optimizer: Any, limit: int = 64) -> int | None:
    """The update an optimizer just made by its own count (the largest `step` of the
    first `limit` parameter states, minus 1), None when its states keep no step."""
    best: int | None = None
    seen = 0
    state = optimizer.state
    for group in optimizer.param_groups:
        for param in group["params"]:
            entry = state.get(param)
            step = entry.get("step") if entry else None
            if step is None:
                continue
            count = int(float(step))
            best = count if best is None else max(best, count)
            seen += 1
            if seen >= limit:
                return best - 1
    return best - 1 if best is not None else None


class OptimizerWatch:
    """The one step post-hook (and load-state post-hook) of an optimizer."""

    def __init__(self, optimizer: Any) -> None:
        import torch

        self.observers: list[StepObserver] = []
        # Run eagerly, also inside a compiled `opt.step()`: traced, the Python counters
        # would be guarded on (a recompile every step); left to dynamo's frame callback
        # after a graph break, its frames cost ~15 us more per compiled step than under
        # the disable wrapper, whose own cost is ~0.4 us per eager update (a hook that
        # reaches that wrapper only when `is_compiling()` cost ~17 us more per compiled
        # step, measured, so the whole hook is wrapped).
        self.handle = optimizer.register_step_post_hook(torch.compiler.disable(self.after_step))
        self.loaded = optimizer.register_load_state_dict_post_hook(self.rebase)

    def after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        groups = optimizer.param_groups
        for observer in self.observers:
            observer.after_step(optimizer, groups)

    def rebase(self, optimizer: Any) -> None:
        for observer in self.observers:
            observer.rebase()

    def detach(self, observer: StepObserver) -> None:
        self.observers = [o for o in self.observers if o is not observer]


_WATCHES: weakref.WeakKeyDictionary[Any, OptimizerWatch] = weakref.WeakKeyDictionary()


def hookable(optimizer: Any) -> Any:
    """The torch optimizer that runs the updates: wrappers such as accelerate's
    `AcceleratedOptimizer` (what Hugging Face's Trainer hands its scheduler) subclass
    `torch.optim.Optimizer` without its hooks and delegate to `.optimizer`."""
    for _ in range(8):
        if "_optimizer_step_post_hooks" in vars(optimizer):
            return optimizer
        inner = getattr(optimizer, "optimizer", None)
        if inner is None:
            return optimizer
        optimizer = inner
    return optimizer


def watch_optimizer(optimizer: Any, track: Track, shim: ObservedShim) -> StepObserver:
    """Observe the updates of `optimizer` for `shim` (one hook per optimizer, shared by
    its shims); the run of `track`, if any, learns the framework is torch."""
    optimizer = hookable(optimizer)
    watch = _WATCHES.get(optimizer)
    if watch is None:
        watch = _WATCHES[optimizer] = OptimizerWatch(optimizer)
    observer = StepObserver(track, shim, watch)
    watch.observers = [*watch.observers, observer]
    for other in watch.observers:
        other.regroup()  # the groups each lambda governs may change
    if track.run is not None:
        track.run.set_framework("torch")
    return observer
