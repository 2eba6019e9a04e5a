"""Observing the lr each optimizer update really applied, against the registry's.

SPEC 2: update `k` (the k-th optimizer step, 0 first) uses lr(k). An `Observer` is told,
after update `k`, the lr each parameter group applied; it compares them with the
registry's value for `k` (from the curve its track follows, so a switch to an amendment
is followed), scaled for the other groups by `initial_lr_i / initial_lr_ref`. It counts
checked and mismatched updates, samples points for the run, logs the first mismatch once
(logger "stepsize", WARNING) with its step, expected and observed values, group and
likely cause, reports it to the run (`first_mismatch`, the counts, a `mismatch` event),
and then calls `track.after_update(k)`: a follower's only point in the training thread.

The parts without a framework, shared by the Keras and torch shims:

- `Observer(track, ratios=..., rtol=...)`: `check(update, observed_by_group)` per update
  (`passed(update)` for an update it does not read), `counter()` (override: the
  scheduler's own counter, which explains most mismatches), counts `checked`,
  `mismatches`, `last_update`, `first_mismatch`.
- `likely_cause(...)`: the cause of a mismatch inferred from the values: the observed lr
  is the schedule's at the scheduler's counter `m` times as far (stepped `m` times per
  update), at a counter shifted by a constant `d` from the first update of this process
  on (a resume that shifted the counter), or no value of the schedule nearby (the lr was
  overwritten by something else).

The torch part (`stepsize.torch_observe`: `watch_optimizer`, `StepObserver`) installs one
step post-hook per optimizer. Nothing here imports a framework.
"""

from __future__ import annotations

import array
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .curves import Curve
from .track import Track

__all__ = [
    "RTOL",
    "Cause",
    "Observer",
    "likely_cause",
]

log = logging.getLogger("stepsize")

RTOL = 1e-12  # relative; float64 lrs computed as lr * ratio differ by a few ulps at most
NEVER = 2**63  # no sampling (no run)
SEARCH = 4096  # steps on each side searched for a shifted counter
MAX_MULTIPLE = 64  # scheduler steps per update searched for
MISMATCH_POINTS = 100  # mismatched updates sent as points, per observer
CUDA_EVERY = 100  # a CUDA tensor lr is read (a device sync) every this many updates


@dataclass(frozen=True)
class Cause:
    """A mismatch's likely cause: `code` is `stepped_more_than_once`, `shifted_counter`
    or `overwritten`; `text` says it in at most 200 characters (the run record's)."""

    code: str
    text: str


def _close(a: float, b: float, rtol: float) -> bool:
    return a == b or abs(a - b) <= rtol * abs(b)


def likely_cause(
    update: int,
    observed: float,
    *,
    first_update: int,
    values: Callable[[int, int], tuple[np.ndarray, np.ndarray]],
    counter: int | None = None,
    first_counter: int | None = None,
    rtol: float = RTOL,
) -> Cause:
    """Why update `update` applied `observed` (in the reference group's scale) and not
    lr(update). `first_update`: the first update this process observed; `values(start,
    stop)`: the known steps of `[start, stop)` and their lrs (never fetching); `counter`
    and `first_counter`: the scheduler's counter now and at `first_update`, when known
    (then the cause is read from the counters when lr(counter) is what was applied)."""
    j = update - first_update
    if counter is not None and counter != update and _is_lr(values, counter, observed, rtol):
        return _counter_cause(update, counter, first_update, first_counter)
    if j >= 1:
        for m in range(2, MAX_MULTIPLE + 1):
            if _is_lr(values, first_update + m * j, observed, rtol):
                return _stepped(m, update, first_update + m * j)
    if update > 0 and j == 0 and _is_lr(values, 0, observed, rtol):
        return _counter_cause(update, 0, update, 0)
    steps, lrs = values(max(0, update - SEARCH), update + SEARCH + 1)
    near = [int(s) for s, v in zip(steps, lrs, strict=True) if _close(observed, float(v), rtol)]
    near = [s for s in near if s != update]
    if near:
        step = min(near, key=lambda s: (abs(s - update), s))
        if j >= 1 and step == update + 1:
            return _stepped(2, update, step)
        return _counter_cause(update, step, first_update, step - j if j == 0 else None)
    return Cause(
        "overwritten",
        f"the lr is no value of the schedule near step {update}: something else set it "
        "(another scheduler, a callback, code writing param_group['lr'])",
    )


def _is_lr(
    values: Callable[[int, int], tuple[np.ndarray, np.ndarray]],
    step: int,
    observed: float,
    rtol: float,
) -> bool:
    _steps, lrs = values(step, step + 1)
    return bool(len(lrs)) and _close(observed, float(lrs[0]), rtol)


def _stepped(m: int, update: int, step: int) -> Cause:
    return Cause(
        "stepped_more_than_once",
        f"the scheduler stepped {m} times per optimizer update (update {update} applied the "
        f"lr of step {step}): call scheduler.step() once per optimizer.step()",
    )


def _counter_cause(
    update: int, counter: int, first_update: int, first_counter: int | None
) -> Cause:
    """The applied lr is lr(counter): stepped `m` times per update since the first one,
    or a constant shift since the process began (a resume), or a drift since."""
    j, d = update - first_update, counter - update
    if j >= 1 and first_counter is not None and (counter - first_counter) % j == 0:
        m = (counter - first_counter) // j
        if m >= 2:
            return _stepped(m, update, counter)
    since_start = first_counter is not None and first_counter - first_update == d
    if (j == 0 or since_start) and first_counter == 0:
        return Cause(
            "shifted_counter",
            f"a resume that shifted the counter by {d}: the scheduler restarted at step 0 "
            f"while the optimizer was at update {first_update} (its state_dict was not loaded)",
        )
    if j == 0 or since_start:
        return Cause(
            "shifted_counter",
            f"a resume that shifted the counter by {d:+d}: the scheduler is at step {counter}, "
            f"the optimizer at update {update} (checkpoints of different steps?)",
        )
    return Cause(
        "shifted_counter",
        f"the scheduler's counter drifted to {d:+d} from the optimizer's by update {update} "
        f"(lr of step {counter} applied): it stepped on an update the optimizer skipped?",
    )


class Observer:
    """Checks the lr each update applied against the registry's; framework-free.

    `ratios[i]`: group `i`'s lr over the reference group's (`initial_lr_i /
    initial_lr_ref`, 1.0 for the reference, 0.0 for a frozen group); `groups[i]`: the
    group's index in its optimizer (for messages). The expected values come from
    `curve`, the track's unless a shim points it at the curve it follows. Counting and
    sampling cost a few attribute updates per update; a mismatch costs more, once.
    """

    def __init__(
        self,
        track: Track,
        *,
        ratios: Sequence[float] = (1.0,),
        groups: Sequence[int] | None = None,
        reference: int = 0,
        rtol: float = RTOL,
        label: str = "",
    ) -> None:
        self.track = track
        self.run = track.run
        self.label = label
        self.rtol = rtol
        self.ratios = list(ratios)
        self.groups = list(groups) if groups is not None else list(range(len(self.ratios)))
        self.reference = reference  # index into ratios/groups
        self.first_update: int | None = None
        self.first_counter: int | None = None
        self.last_update: int | None = None
        self.checked = 0
        self.mismatches = 0
        self.first_mismatch: dict[str, Any] | None = None
        self.cause: Cause | None = None  # the first mismatch's
        self._mismatch_points = 0
        self._next_sample = 0 if self.run is not None else NEVER
        # the cached chunk of expected values: steps [_start, _start + _size), and the
        # constant from the horizon on
        self._table: array.array[float] = array.array("d")
        self._start = self._size = 0
        self._tail_from, self._tail = NEVER, 0.0
        self.curve = track.curve
        track.subscribe(self._switched)
        if self.run is not None:
            self.run.watch(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label or self.track.identity.ref!r})"

    @property
    def curve(self) -> Curve:
        """Where the expected values come from."""
        return self._curve

    @curve.setter
    def curve(self, curve: Curve) -> None:
        self._curve = curve
        self._start = self._size = 0
        self._tail_from = NEVER

    def _switched(self, identity: Any, curve: Curve) -> None:
        self.curve = curve

    def counter(self) -> int | None:
        """The scheduler's own counter now, when known (the torch observer's)."""
        return None

    def known_cause(self, update: int, observed: float) -> Cause | None:
        """A cause the framework makes certain (override), tried before `likely_cause`;
        `observed` is in the reference group's scale."""
        return None

    def expected(self, update: int) -> float | None:
        """The reference group's lr for `update`, None when it is not loaded (never fetches)."""
        i = update - self._start
        if 0 <= i < self._size:
            return self._table[i]
        if update >= self._tail_from:
            return self._tail
        return self._load(update)

    def _load(self, update: int) -> float | None:
        """Cache the chunk of `update` (or the constant past the horizon) as a table."""
        curve = self._curve
        horizon = curve.horizon
        step = update if horizon is None else min(update, horizon)
        size = curve.chunk_steps
        chunk = curve.chunks.get(step // size)
        if chunk is None:
            return None
        if horizon is not None and update >= horizon:
            self._tail_from, self._tail = horizon, float(chunk[horizon % size])
            return self._tail
        table = array.array("d")
        table.frombytes(np.ascontiguousarray(chunk, dtype=np.float64).tobytes())
        self._table, self._start, self._size = table, step - step % size, len(table)
        return table[step - self._start]

    def _values(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The loaded steps of `[start, stop)` and their lrs."""
        curve = self._curve
        steps = np.arange(max(start, 0), max(stop, 0), dtype=np.int64)
        clamped = steps if curve.horizon is None else np.minimum(steps, curve.horizon)
        loaded = np.isin(clamped // curve.chunk_steps, np.fromiter(curve.chunks, np.int64))
        steps = steps[loaded]
        return steps, curve.values(steps) if len(steps) else np.empty(0)

    def check(self, update: int, observed: Sequence[float]) -> bool:
        """Update `update` applied `observed[i]` in group `i`: True when each is the
        registry's (within `rtol`). Calls `track.after_update(update)` last."""
        # the hot path of every update: the table lookup of `expected`, inlined
        i = update - self._start
        if 0 <= i < self._size:
            want = self._table[i]
        elif update >= self._tail_from:
            want = self._tail
        else:
            loaded = self._load(update)
            if loaded is None:  # not loaded (a counter far off): no check, no fetch
                self.passed(update)
                return True
            want = loaded
        ratios, rtol = self.ratios, self.rtol
        bad = -1
        for i, seen in enumerate(observed):
            exp = want * ratios[i]
            if seen != exp and not abs(seen - exp) <= rtol * abs(exp):
                bad = i
                break
        self.checked += 1
        self.last_update = update
        if bad >= 0:
            try:
                self._mismatched(update, bad, float(observed[bad]), want)
            except Exception:  # reporting must never stop a training step
                log.exception("stepsize: reporting a mismatch at step %d failed", update)
        elif update >= self._next_sample and self.run is not None:
            self.run.point(update, float(observed[self.reference]), want)
            self._next_sample = update + self.run.stride(update)
        if self.track.on_update is not None:
            self.track.after_update(update)
        return bad < 0

    def passed(self, update: int) -> None:
        """Update `update` happened without being read (a CUDA lr between samples)."""
        self.last_update = update
        self.track.after_update(update)

    def _mismatched(self, update: int, index: int, seen: float, want: float) -> None:
        self.mismatches += 1
        ratio = self.ratios[index]
        scaled = seen / ratio if ratio else seen
        run = self.run
        if run is not None and self._mismatch_points < MISMATCH_POINTS:
            self._mismatch_points += 1
            run.point(update, scaled, want if ratio else 0.0)
        if self.first_mismatch is not None:
            return
        if not ratio:
            cause = Cause("overwritten", f"the group's initial lr is 0 but it applied {seen!r}")
        else:
            cause = self.known_cause(update, scaled) or likely_cause(
                update,
                scaled,
                first_update=self.first_update if self.first_update is not None else update,
                values=self._values,
                counter=self.counter(),
                first_counter=self.first_counter,
                rtol=self.rtol,
            )
        group = self.groups[index]
        first = {
            "step": update,
            "expected": want * ratio,
            "observed": seen,
            "group": group,
            "cause": cause.text[:200],
        }
        self.first_mismatch, self.cause = first, cause
        where = f" of run {run.id}" if run is not None and run.id else ""
        log.warning(
            "stepsize: lr mismatch at step %d (update %d applies lr(%d), SPEC 2) of %s%s, "
            "param group %d: expected %r, observed %r. Likely cause: %s. Later mismatches "
            "are counted in the run record, not logged.",
            update,
            update,
            update,
            self.track.identity.ref,
            where,
            group,
            want * ratio,
            seen,
            cause.text,
        )
        if run is not None:
            run.mismatch(first, code=cause.code)


# -- torch: one step post-hook per optimizer ---------------------------------------------
