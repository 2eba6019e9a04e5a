"""The pinned `Schedule` handed to training code (SPEC section 7).

It stands on the pinning layer (`Identity`, `Curve`) and hands out the shims; the shims
never import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .curves import Curve
from .pinning import Identity, Pinning, curve_for, default_pinning, restoring
from .refs import Ref
from .steps import check_step
from .track import Track

if TYPE_CHECKING:
    from torch.optim.lr_scheduler import LRScheduler

    from .keras import RegistrySchedule
    from .runs import Run
    from .torch import TorchLambda


class Schedule:
    """A schedule pinned to one version, with its values cached.

    Calling it never touches the network while the step lies in the fetched range (the
    whole curve with `total_steps` or a finite horizon); further chunks are prefetched
    in the background. A value that cannot be had raises `ScheduleUnavailable` after a
    bounded wait; it is never guessed.

    Pickling keeps only the identity (reference, digest, sizes): the unpickled copy
    finds the values in the process's memory cache, the disk cache, or the server.

    A run-length template (durations such as "0.1dur") is bound to `total_steps` at
    construction: `digest` and `definition` are its binding's, `template_digest` and
    `template_definition` the version's own; pickles and checkpoints keep `total_steps`,
    so a restored copy follows the same curve.
    """

    def __init__(
        self,
        identity: Identity,
        curve: Curve,
        *,
        requested: str | None = None,
        pinning: Pinning | None = None,
        track: Track | None = None,
    ) -> None:
        # what the shims follow: switched when a follower adopts an amendment
        self.track = track if track is not None else Track(identity, curve)
        self.requested = requested or identity.ref
        # the client's pinning: the shims handed out restore through it (never pickled)
        self.pinning = pinning

    @property
    def identity(self) -> Identity:
        """What this schedule is pinned to now (a follower's changes when it adopts an
        amendment)."""
        return self.track.identity

    @property
    def _curve(self) -> Curve:
        return self.track.curve

    @property
    def run(self) -> Run | None:
        """The run this process registered for it (rank 0, runs on), else None."""
        return self.track.run

    def __repr__(self) -> str:
        return f"Schedule({self.ref!r}, digest={self.digest[:19]}..., horizon={self.horizon})"

    def __reduce__(self) -> tuple[Any, ...]:
        state = self.identity.as_dict()
        if self.identity.template_digest is not None:
            state["template_digest"] = self.identity.template_digest
        return (restore, (state,))

    @property
    def ref(self) -> str:
        """The pinned reference, `ns/name@VERSION`."""
        return self.identity.ref

    @property
    def version(self) -> int:
        """The pinned version number."""
        return Ref.parse(self.identity.ref).version or 0

    @property
    def digest(self) -> str:
        """The digest of the pinned version's normalized definition (of a template's
        binding to `total_steps`: the digest of the same schedule written by hand)."""
        return self.identity.digest

    @property
    def template_digest(self) -> str | None:
        """A run-length template's own digest (the version's); None for an ordinary
        definition."""
        return self.identity.template_digest

    @property
    def definition(self) -> dict[str, Any]:
        """The normalized definition the values follow: a template's binding to
        `total_steps` (integers where the template has durations). From the disk cache,
        else the server; raises `ScheduleUnavailable` when neither has it."""
        facts = self._facts()
        bound = facts.get("bound")
        definition: dict[str, Any] = bound["definition"] if bound else facts["definition"]
        return definition

    @property
    def template_definition(self) -> dict[str, Any] | None:
        """A run-length template's normalized definition (with its durations); None for
        an ordinary definition. Raises like `definition`."""
        facts = self._facts()
        return facts["definition"] if facts.get("template") else None

    def _facts(self) -> dict[str, Any]:
        """The version's facts (`Pinning.version_info`), a template's with its binding."""
        pinning = self.pinning or default_pinning()
        pinned = Ref.parse(self.ref)
        facts = pinning.version_info(pinned, self.steps_per_epoch)
        if facts.get("template"):
            facts = pinning.version_info(pinned, self.steps_per_epoch, self.total_steps)
        return facts

    @property
    def horizon(self) -> int | None:
        """The step after which the value is constant, or None."""
        return self.identity.horizon

    @property
    def total_steps(self) -> int | None:
        """The run's number of optimizer updates, as given to `Client.schedule`."""
        return self.identity.total_steps

    @property
    def steps_per_epoch(self) -> int | None:
        """The steps per epoch given to `Client.schedule` (None: not given)."""
        return self.identity.steps_per_epoch

    @property
    def waits(self) -> int:
        """Lookups of this curve (in this process) that found their chunk missing and waited."""
        return self._curve.waits

    def __call__(self, step: int) -> float:
        """The lr at `step`. Raises ValueError for an invalid step, ScheduleUnavailable
        when the chunk is neither loaded nor fetchable within the bounded wait."""
        return self._curve.value(check_step(step))

    def values(self, start: int = 0, stop: int | None = None, stride: int = 1) -> np.ndarray:
        """Values for `range(start, stop, stride)` as float64; `stop` defaults to the end
        of the fetched range (`total_steps + 1` or `horizon + 1`)."""
        if stop is None:
            stop = self.extent()
            if stop is None:
                raise ValueError(
                    "Argument `stop` is required for an open-ended schedule without total_steps"
                )
        start, stop = check_step(start), check_step(stop)
        if stride < 1:
            raise ValueError(f"Argument `stride` must be >= 1. Received: stride={stride}")
        return self._curve.values(np.arange(start, stop, stride, dtype=np.int64))

    def extent(self) -> int | None:
        """Steps `[0, extent)` cover the run: `total_steps + 1`, else `horizon + 1`, else None."""
        if self.total_steps is not None:
            return self.total_steps + 1
        if self.horizon is not None:
            return self.horizon + 1
        return None

    def keras(
        self,
        *,
        dtype: str = "float32",
        steps: int | None = None,
        gradient_accumulation_steps: int | None = None,
    ) -> RegistrySchedule:
        """A `keras.optimizers.schedules.LearningRateSchedule` of this schedule.

        A table lookup in backend ops, also under XLA and jitted JAX. `steps`: the run's
        length when this schedule was built without `total_steps` and has no horizon (a
        compiled step can only read the table). `gradient_accumulation_steps=k`, the
        optimizer's: Keras calls a schedule with its micro-batch counter, the shim looks up
        `counter // k` so update n uses lr(n). Imports keras; raises ValueError for a bad
        argument.
        """
        from .keras import RegistrySchedule

        def build() -> RegistrySchedule:
            return RegistrySchedule(
                dtype=dtype,
                steps=steps,
                gradient_accumulation_steps=gradient_accumulation_steps,
                track=self.track,
                **self.identity.as_dict(),
            )

        if self.pinning is None:
            return build()
        with restoring(self.pinning):
            return build()

    def torch_lambda(
        self, optimizer_or_base_lr: Any, *, group: int | str | None = None
    ) -> TorchLambda:
        """A picklable `lr_lambda` for `torch.optim.lr_scheduler.LambdaLR`.

        Its factor is the registry's lr divided by the reference group's initial lr (or
        the number given), so that the reference group's lr equals the registry's at
        every step and every other group keeps its ratio to it. The reference group is
        `group` (an index, or a group's `"name"`), else the first group whose initial lr
        is not 0 (`stepsize.torch.reference_group`). Raises ValueError when no group
        has a usable lr.
        """
        from .torch import TorchLambda, base_lr_of

        return TorchLambda(
            self.identity,
            base_lr_of(optimizer_or_base_lr, group=group),
            pinning=self.pinning,
            track=self.track,
            optimizer=None
            if isinstance(optimizer_or_base_lr, (int, float))
            else optimizer_or_base_lr,
            group=group,
        )

    def torch_scheduler(
        self, optimizer: Any, *, last_epoch: int = -1, group: int | str | None = None
    ) -> LRScheduler:
        """An `LRScheduler` setting the reference group's lr to the registry's value and
        every other group's in proportion (`lr_i = lr * initial_lr_i / initial_lr_ref`).

        The reference group is `group` (an index or a `"name"`), else the first group
        whose initial lr is not 0. A tensor lr (compiled optimizers) is updated in place.
        `last_epoch=k` resumes after k steps: the lr is that of step k, as in the
        uninterrupted run (torch's own schedulers land one step further). Raises
        ValueError when no group has a usable lr.
        """
        from . import torch as shims

        # RegistryLR is built on first use (stepsize.torch's __getattr__)
        scheduler: LRScheduler = shims.RegistryLR(
            optimizer,
            self.identity,
            last_epoch=last_epoch,
            group=group,
            pinning=self.pinning,
            track=self.track,
        )
        return scheduler


def restore(state: dict[str, Any], *, client: Any = None) -> Schedule:
    """Rebuild a `Schedule` from a saved identity: what a pickled `Schedule` holds, a
    `TorchLambda`'s state, `RegistryLR.state_dict()["stepsize"]` or a Keras shim's config.

    The values come from memory, the disk cache, else the server of, in order: `client`
    (a `stepsize.Client`),
    the client of an enclosing `client.restoring()` block, `stepsize.set_default_client`,
    the `STEPSIZE_*` environment. Raises `ScheduleUnavailable` when none has them (and
    keeps nothing of the failed attempt), TypeError for a state without an identity.
    """
    if not isinstance(state, dict) or not {"ref", "digest"} <= state.keys():
        raise TypeError(
            "stepsize.restore needs a saved identity (a dict with 'ref' and 'digest'). "
            f"Received: {type(state).__name__}"
        )
    ident = Identity(
        ref=str(state["ref"]),
        digest=str(state["digest"]),
        horizon=state.get("horizon"),
        total_steps=state.get("total_steps"),
        steps_per_epoch=state.get("steps_per_epoch"),
        template_digest=state.get("template_digest"),
    )
    pinning = client.pinning if client is not None else None
    return Schedule(ident, curve_for(ident, pinning), pinning=pinning)


__all__ = ["Schedule", "restore"]
