"""Values of pinned curves: the process-wide memory cache, with background prefetching.

A curve is identified by `(digest, steps_per_epoch)`: the digest names the normalized
definition, so the values never change and can be cached forever. Values are held in
chunks of `chunk_steps` consecutive steps (chunk `i` covers `[i*C, (i+1)*C)`).

Chunks on disk are kept by `disk.DiskCache`, which `Curve` reads before the server.
"""

from __future__ import annotations

import array
import logging
import os
import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from .disk import CurveKey, DiskCache
from .errors import ScheduleUnavailable, ServerError, StepsizeError, Unreachable

log = logging.getLogger("stepsize")

MAX_STEP = 2**53
DEFAULT_CHUNK_STEPS = 65_536
MAX_VALUES_PER_REQUEST = 10_000_000
PREFETCH_BACKOFF_S = 5.0  # after a failed background prefetch, before the next one

Source = Callable[[int, int], np.ndarray]
"""Fetches the values of steps `[start, stop)` from the server; raises `Unreachable`."""


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


class _Fetch:
    """One in-flight load of chunks `[first, stop)`."""

    def __init__(self, first: int, stop: int) -> None:
        self.first = first
        self.stop = stop
        self.done = threading.Event()
        self.error: BaseException | None = None


class Curve:
    """The values of one `(digest, steps_per_epoch)` curve in this process, by chunk.

    Lookups of loaded chunks never touch the network. When a lookup enters the last
    `prefetch_margin` steps of a chunk, the next chunk is fetched on a background thread
    (never past the horizon, nor past `total_steps` until the run goes beyond it). A
    lookup of a chunk that is not loaded waits for the in-flight fetch or fetches it
    itself, in both cases for at most `wait_timeout` seconds, then raises
    `ScheduleUnavailable`: a missing value is never replaced by a guess.
    """

    def __init__(
        self,
        key: CurveKey,
        *,
        label: str,
        horizon: int | None,
        total_steps: int | None,
        chunk_steps: int,
        disk: DiskCache | None,
        source: Source | None,
        wait_timeout: float,
        prefetch_margin: int | None = None,
    ) -> None:
        if chunk_steps < 2:
            raise ValueError(
                f"Argument `chunk_steps` must be >= 2. Received: chunk_steps={chunk_steps}"
            )
        self.key = key
        self.label = label
        self.horizon = horizon
        self.total_steps = total_steps
        self.chunk_steps = chunk_steps
        self.margin = (
            chunk_steps // 2 if prefetch_margin is None else min(prefetch_margin, chunk_steps)
        )
        self.disk = disk
        self.source = source
        self.wait_timeout = wait_timeout
        self.last_chunk = None if horizon is None else horizon // chunk_steps
        self.waits = 0  # lookups that had to wait on a fetch (after construction: a miss)
        self.fetches = 0  # chunk loads that went to the server
        self.fast_end = 0  # steps [0, fast_end) are in every factor table
        self._chunks: dict[int, np.ndarray] = {}
        self._contiguous = 0
        self._inflight: dict[int, _Fetch] = {}
        self._tables: dict[float, array.array] = {}
        self._lock = threading.RLock()
        self._quiet_until = 0.0

    def __repr__(self) -> str:
        chunks = sorted(self._chunks)[:8]
        return f"Curve({self.label!r}, digest={self.key[0][:15]}..., chunks={chunks})"

    # loading

    def loaded(self, index: int) -> bool:
        return index in self._chunks

    def upfront_chunks(self, limit: int) -> int:
        """How many chunks from 0 construction loads: to the horizon or total_steps (capped)."""
        ends = [self.horizon + 1] if self.horizon is not None else []
        if self.total_steps is not None:
            ends.append(self.total_steps + 1)
        end = min(min(ends) if ends else 1, limit, MAX_STEP + 1)
        return max(1, -(-end // self.chunk_steps))

    def ensure(self, first: int, stop: int) -> None:
        """Load chunks `[first, stop)` (from memory, disk, then the server); blocks.

        Raises `ScheduleUnavailable` when some chunk is neither cached nor fetchable
        within the bounded wait, or the `ServerError` the server answered.
        """
        if self.last_chunk is not None:
            stop = min(stop, self.last_chunk + 1)
        missing = [i for i in range(first, stop) if i not in self._chunks]
        if not missing:
            return
        lo, hi = missing[0], missing[-1] + 1
        fetch = self._claim(lo, hi)
        if fetch is not None:
            self._run(fetch)
        for i in missing:
            if i not in self._chunks:
                self._wait_for(i)

    def _claim(self, first: int, stop: int) -> _Fetch | None:
        with self._lock:
            if any(i in self._inflight for i in range(first, stop)):
                return None
            fetch = _Fetch(first, stop)
            for i in range(first, stop):
                self._inflight[i] = fetch
            return fetch

    def _run(self, fetch: _Fetch) -> None:
        try:
            self._load(fetch.first, fetch.stop)
        except BaseException as exc:  # handed to whoever waits on this fetch
            fetch.error = exc
        finally:
            with self._lock:
                for i in range(fetch.first, fetch.stop):
                    if self._inflight.get(i) is fetch:
                        del self._inflight[i]
            fetch.done.set()

    def _wait_for(self, index: int) -> np.ndarray:
        chunk = self._chunks.get(index)
        if chunk is not None:
            return chunk
        with self._lock:
            fetch = self._inflight.get(index)
        if fetch is None:
            fetch = self._claim(index, index + 1)
            if fetch is not None:
                self._run(fetch)
            else:
                return self._wait_for(index)
        elif not fetch.done.wait(self.wait_timeout):
            raise ScheduleUnavailable(
                f"{self.label}: steps {index * self.chunk_steps}.. are not cached and their "
                f"fetch did not finish within {self.wait_timeout:g} s"
            )
        chunk = self._chunks.get(index)
        if chunk is not None:
            return chunk
        if isinstance(fetch.error, StepsizeError):
            raise fetch.error
        raise ScheduleUnavailable(
            f"{self.label}: steps {index * self.chunk_steps}.. could not be loaded: {fetch.error}"
        ) from fetch.error

    def _load(self, first: int, stop: int) -> None:
        C = self.chunk_steps
        found: dict[int, np.ndarray] = {}
        missing: list[int] = []
        for i in range(first, stop):
            if i in self._chunks:
                continue
            chunk = self.disk.load_chunk(self.key, C, i) if self.disk is not None else None
            if chunk is None:
                missing.append(i)
            else:
                found[i] = chunk
        per_request = max(1, MAX_VALUES_PER_REQUEST // C)
        runs: list[tuple[int, int]] = []
        for i in missing:
            if runs and runs[-1][1] == i and i - runs[-1][0] < per_request:
                runs[-1] = (runs[-1][0], i + 1)
            else:
                runs.append((i, i + 1))
        for lo, hi in runs:
            values = self._fetch(lo * C, hi * C)
            for i in range(lo, hi):
                chunk = values[(i - lo) * C : (i - lo + 1) * C]
                found[i] = chunk
                if self.disk is not None:
                    self.disk.store_chunk(self.key, C, i, chunk)
        self._add(found)

    def _fetch(self, start: int, stop: int) -> np.ndarray:
        where = f" (cache: {self.disk.root})" if self.disk is not None else ""
        if self.source is None:
            raise ScheduleUnavailable(
                f"{self.label}: steps [{start}, {stop}) are not in the cache{where} and this "
                "process does not call the server (STEPSIZE_OFFLINE=1 or a non-zero rank)"
            )
        stop_clipped = min(stop, MAX_STEP + 1)
        try:
            values = self.source(start, stop_clipped)
        except Unreachable as exc:
            raise ScheduleUnavailable(
                f"{self.label}: steps [{start}, {stop}) are not in the cache{where} and the "
                f"server cannot be reached: {exc}"
            ) from exc
        except ServerError:
            raise
        self.fetches += 1
        if stop_clipped < stop:
            values = np.concatenate([values, np.full(stop - stop_clipped, values[-1])])
        return values

    def _add(self, chunks: dict[int, np.ndarray]) -> None:
        with self._lock:
            self._chunks.update(chunks)
            while self._contiguous in self._chunks:
                self._contiguous += 1
            self._advance_tables()

    # lookups

    def value(self, step: int) -> float:
        """The lr at `step` (an int in [0, 2**53]); blocks only when the chunk is missing."""
        s = step if self.horizon is None or step <= self.horizon else self.horizon
        C = self.chunk_steps
        i = s // C
        chunk = self._chunks.get(i)
        if chunk is None:
            self.waits += 1
            chunk = self._wait_for(i)
        if s - i * C >= C - self.margin:
            self._prefetch_after(s)
        return float(chunk[s - i * C])

    def _prefetch_after(self, s: int) -> None:
        nxt = s // self.chunk_steps + 1
        if self.last_chunk is not None and nxt > self.last_chunk:
            return
        if self.total_steps is not None and s <= self.total_steps < nxt * self.chunk_steps:
            return  # the run said it ends before that chunk; fetch it only if it goes on
        if nxt in self._chunks or nxt in self._inflight or nxt * self.chunk_steps > MAX_STEP:
            return
        if time.monotonic() < self._quiet_until:
            return  # the last prefetch failed: give the server a moment
        fetch = self._claim(nxt, nxt + 1)
        if fetch is not None:
            _prefetcher().put((self, fetch))

    def _prefetch(self, fetch: _Fetch) -> None:
        self._run(fetch)
        if fetch.error is not None:
            self._quiet_until = time.monotonic() + PREFETCH_BACKOFF_S
            log.warning(
                "stepsize: prefetch of %s failed (retrying later): %s", self.label, fetch.error
            )

    def values(self, steps: np.ndarray) -> np.ndarray:
        """Values at an array of valid steps; loads missing chunks (bounded wait)."""
        s = np.asarray(steps, dtype=np.int64)
        if self.horizon is not None:
            s = np.minimum(s, self.horizon)
        C = self.chunk_steps
        idx = s // C
        out = np.empty(s.shape, dtype=np.float64)
        for i in np.unique(idx).tolist():
            chunk = self._chunks.get(i)
            if chunk is None:
                chunk = self._wait_for(i)
            mask = idx == i
            out[mask] = chunk[s[mask] - i * C]
        return out

    def prefix(self, n: int) -> np.ndarray:
        """The values of steps `[0, n)` as one contiguous array (loads what is missing)."""
        return self.values(np.arange(n, dtype=np.int64))

    # torch's fast path

    def _fast_end(self) -> int:
        loaded = self._contiguous * self.chunk_steps
        if self.horizon is not None and loaded > self.horizon:
            # past the horizon the curve is constant: the table runs to total_steps too
            return max(self.horizon + 1, min((self.total_steps or 0) + 1, MAX_VALUES_PER_REQUEST))
        limit = loaded - self.margin
        if self.total_steps is not None:
            limit = max(limit, min(loaded, self.total_steps + 1))
        return max(limit, 0)

    def _advance_tables(self) -> None:
        end = self._fast_end()
        if end <= self.fast_end:
            return
        start = self.fast_end
        if self._tables:
            piece = self._slice(start, end)
            for base, table in self._tables.items():
                table.frombytes(exact_factors(piece, base).tobytes())
        self.fast_end = end

    def _slice(self, start: int, end: int) -> np.ndarray:
        if self.horizon is not None and end > self.horizon + 1:
            return self.values(np.arange(start, end, dtype=np.int64))
        C = self.chunk_steps
        parts = [self._chunks[i] for i in range(start // C, -(-end // C))]
        joined = np.concatenate(parts) if len(parts) > 1 else parts[0]
        off = (start // C) * C
        return joined[start - off : end - off]

    def factor_table(self, base_lr: float) -> array.array:
        """`lr / base_lr` for steps `[0, fast_end)`, kept up to date as chunks arrive."""
        with self._lock:
            table = self._tables.get(base_lr)
            if table is None:
                table = array.array("d")
                if self.fast_end:
                    table.frombytes(exact_factors(self._slice(0, self.fast_end), base_lr).tobytes())
                self._tables[base_lr] = table
                FACTORS[factor_key(self.key, base_lr)] = table
            return table

    def _after_fork(self) -> None:
        self._lock = threading.RLock()
        self._inflight = {}


# The process-wide memory cache. FACTORS is what torch_lambda reads on its hot path.
CURVES: dict[CurveKey, Curve] = {}
FACTORS: dict[str, array.array] = {}


def factor_key(key: CurveKey, base_lr: float) -> str:
    """The FACTORS key of a curve's factor table for `base_lr` (a str: its hash is cached)."""
    return f"{key[0]}|{key[1]}|{base_lr!r}"


_registry_lock = threading.Lock()


def lookup(key: CurveKey) -> Curve | None:
    return CURVES.get(key)


def register(curve: Curve) -> Curve:
    """Add `curve` to the memory cache; if another thread won the race, return its curve."""
    with _registry_lock:
        existing = CURVES.get(curve.key)
        if existing is not None:
            return existing
        CURVES[curve.key] = curve
        return curve


def forget_all() -> None:
    """Drop the memory cache (tests, or to release memory); disk entries stay."""
    with _registry_lock:
        CURVES.clear()
        FACTORS.clear()


# One background thread per process runs the prefetches (queued, one at a time): handing
# it a chunk costs the training step a queue put, not a thread start.
_queue: queue.SimpleQueue[tuple[Curve, _Fetch]] | None = None
_queue_lock = threading.Lock()


def _prefetcher() -> queue.SimpleQueue[tuple[Curve, _Fetch]]:
    global _queue
    with _queue_lock:
        if _queue is None:
            _queue = queue.SimpleQueue()
            threading.Thread(
                target=_prefetch_loop, args=(_queue,), name="stepsize-prefetch", daemon=True
            ).start()
        return _queue


def _prefetch_loop(jobs: queue.SimpleQueue[tuple[Curve, _Fetch]]) -> None:
    while True:
        curve, fetch = jobs.get()
        curve._prefetch(fetch)


def _after_fork_in_child() -> None:
    global _registry_lock, _queue, _queue_lock
    _registry_lock = threading.Lock()
    _queue_lock = threading.Lock()
    _queue = None  # the parent's thread does not exist here
    for curve in list(CURVES.values()):
        curve._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
