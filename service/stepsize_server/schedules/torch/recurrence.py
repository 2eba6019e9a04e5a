"""torch's recurrence, stepped: for the torch schedules that have no closed form.

torch's chainable schedulers update the optimizer's *current* learning rate: every
`scheduler.step()` is an affine map of it, `lr_N = A_N * lr_(N-1) + B_N` (B = 0 for the
multiplicative ones, A = 0 for the absolute ones, which set the lr outright). Where the
composition of those maps has no closed form (MultiplicativeLR with a general lambda,
some ChainedScheduler combinations), `Stepper` evaluates the recurrence chunk by chunk,
vectorized: multiplicative chunks with `np.cumprod` (left to right, as torch's loop
multiplies), affine ones with a Hillis–Steele prefix scan of the maps. The value
entering each chunk is kept (a few hundred floats), so a later query only computes the
chunks holding its steps. Nothing beyond `STEP_LIMIT` is computed: `TorchNode` raises
`StepOutOfRange` for such steps.
"""

import threading
from collections.abc import Callable

import numpy as np

STEP_LIMIT = 10_000_000
"""The largest step a cumulative torch schedule is evaluated at."""

CHUNK = 1 << 16

Map = tuple[np.ndarray, np.ndarray | None]
"""Affine maps (A, B), elementwise; B None means 0."""
Maps = Callable[[np.ndarray], Map]
"""Epochs (float64, integral) -> the maps of the steps reaching them."""


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
        if rel.size > 1 and not (rel[1:] >= rel[:-1]).all():
            order = np.argsort(rel, kind="stable")
            out = np.empty(k.shape, dtype=np.float64)
            out[order] = self._ascending(rel[order])
            return out
        return self._ascending(rel)

    def _ascending(self, rel: np.ndarray) -> np.ndarray:
        """Values at relative steps `rel`, non-decreasing: chunk by chunk, in slices."""
        out = np.empty(rel.shape, dtype=np.float64)
        first = int(np.searchsorted(rel, 1))
        out[:first] = self._entry[0]
        if first == rel.size:
            return out
        with self._lock:
            for j in range((int(rel[first]) - 1) // CHUNK, (int(rel[-1]) - 1) // CHUNK + 1):
                lo, hi = np.searchsorted(rel, [j * CHUNK + 1, (j + 1) * CHUNK + 1])
                if lo < hi:
                    values = self._chunk(j, self._entry_of(j), int(rel[hi - 1]))
                    out[lo:hi] = values[rel[lo:hi] - (j * CHUNK + 1)]
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
