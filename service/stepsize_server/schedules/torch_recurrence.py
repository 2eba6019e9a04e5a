"""Stepping torch schedulers the way torch does, where no closed form exists.

torch's chainable schedulers update the optimizer's current learning rate: every
`scheduler.step()` is an affine map of it, `lr_N = A_N * lr_(N-1) + B_N` (B = 0 for the
multiplicative ones, A = 0 for the absolute ones). Most schedules have closed forms; a
few (MultiplicativeLR with a general lambda, some ChainedScheduler combinations) are
genuinely cumulative. Those are evaluated here, vectorized, chunk by chunk:

- purely multiplicative chunks with `np.cumprod`, which multiplies left to right exactly
  as torch's loop does;
- affine chunks with a Hillis–Steele prefix scan of the maps (log2(chunk) passes).

The value at each chunk boundary is kept (a few hundred floats), so later queries only
compute the chunks that hold the steps they ask for. Nothing beyond `STEP_LIMIT` steps is
computed: callers raise `StepOutOfRange` for such steps.

This module also holds the model of an optimizer's param group while schedulers are
built on it (`Group`), which the composites need to reproduce torch's constructors.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

STEP_LIMIT = 10_000_000
"""The largest step a cumulative torch schedule is evaluated at."""

CHUNK = 1 << 16

Maps = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
"""Epochs (float64, integral) -> the affine maps (A, B) of the steps reaching them."""


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


def compose(
    first: tuple[np.ndarray, np.ndarray | None], then: tuple[np.ndarray, np.ndarray | None]
) -> tuple[np.ndarray, np.ndarray | None]:
    """The affine map `then o first` (elementwise)."""
    a1, b1 = first
    a2, b2 = then
    a = a2 * a1
    if b1 is None and b2 is None:
        return a, None
    b = a2 * b1 if b1 is not None else np.zeros_like(a)
    return a, b if b2 is None else b + b2
