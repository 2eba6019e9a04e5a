"""Values of pinned curves in this process: chunk stores, and the process-wide registry.

A curve is identified by `(digest, steps_per_epoch)`: the digest names the normalized
definition, so the values never change and can be cached forever. Values are held in
chunks of `chunk_steps` consecutive steps (chunk `i` covers `[i*C, (i+1)*C)`), read from
memory, then the disk (`disk.DiskCache`), then the server (a `Source`).

Shims that keep derived tables (torch's factor tables) `subscribe` to a curve and are
told whenever its loaded prefix grows; `on_forget` hooks run when `forget_all` drops
the memory cache.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np

from .disk import CurveKey, DiskCache
from .errors import ScheduleUnavailable
from .prefetch import ChunkLoader, Fetch, InflightFetches, Source, run_in_background
from .steps import MAX_STEP

__all__ = [
    "DEFAULT_CHUNK_STEPS",
    "Curve",
    "Source",
    "forget_all",
    "lookup",
    "on_forget",
    "register",
    "unregister",
]

log = logging.getLogger("stepsize")

DEFAULT_CHUNK_STEPS = 65_536
PREFETCH_BACKOFF_S = 5.0  # after a failed background prefetch, before the next one


class Curve:
    """The values of one `(digest, steps_per_epoch)` curve in this process, by chunk.

    Lookups of loaded chunks never touch the network. When a lookup enters the last
    `margin` steps of a chunk, the next chunk is fetched on the background thread (never
    past the horizon, nor past `total_steps` until the run goes beyond it). A lookup of
    a chunk that is not loaded waits for the in-flight fetch or runs the fetch itself,
    once, in both cases for at most `wait_timeout` seconds, then raises
    `ScheduleUnavailable` (naming the reference and the server): a missing value is
    never replaced by a guess.
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
        url: str = "",
        prefetch_margin: int | None = None,
    ) -> None:
        if chunk_steps < 2:
            raise ValueError(
                f"Argument `chunk_steps` must be >= 2. Received: chunk_steps={chunk_steps}"
            )
        self.key = key
        self.label = label
        self.url = url
        self.horizon = horizon
        self.total_steps = total_steps
        self.chunk_steps = chunk_steps
        self.margin = (
            chunk_steps // 2 if prefetch_margin is None else min(prefetch_margin, chunk_steps)
        )
        self.loader = ChunkLoader(
            key, label=label, url=url, chunk_steps=chunk_steps, disk=disk, source=source
        )
        self.wait_timeout = wait_timeout
        self.last_chunk = None if horizon is None else horizon // chunk_steps
        self.warned_open_ended = False  # construction warned that the run is not cached
        self.waits = 0  # lookups that had to wait on a fetch (after construction: a miss)
        self.lock = threading.RLock()  # held while chunks are added and subscribers told
        self._chunks: dict[int, np.ndarray] = {}
        self._contiguous = 0
        self._inflight = InflightFetches()
        self._subscribers: list[Callable[[Curve], None]] = []
        self._quiet_until = 0.0

    def __repr__(self) -> str:
        chunks = sorted(self._chunks)[:8]
        return f"Curve({self.label!r}, digest={self.key[0][:15]}..., chunks={chunks})"

    @property
    def source(self) -> Source | None:
        """Where missing chunks come from (None: only memory and disk)."""
        return self.loader.source

    @source.setter
    def source(self, source: Source | None) -> None:
        self.loader.source = source

    @property
    def chunks(self) -> Mapping[int, np.ndarray]:
        """The loaded chunks by index (a read-only view)."""
        return MappingProxyType(self._chunks)

    @property
    def loaded_steps(self) -> int:
        """Steps `[0, loaded_steps)` are loaded without a gap (a multiple of chunk_steps)."""
        return self._contiguous * self.chunk_steps

    def subscribe(self, callback: Callable[[Curve], None]) -> None:
        """Call `callback(curve)` now and, under `lock`, whenever the loaded prefix or
        `total_steps` grows."""
        with self.lock:
            self._subscribers.append(callback)
            callback(self)

    def extend_run(self, total_steps: int) -> None:
        """The run goes to `total_steps` (a later, longer `Client.schedule` call)."""
        with self.lock:
            if self.total_steps is None or total_steps > self.total_steps:
                self.total_steps = total_steps
                self.add_chunks({})

    # loading

    def upfront_chunks(self, limit: int) -> int:
        """How many chunks from 0 construction loads: to the horizon or total_steps (capped)."""
        ends = [self.horizon + 1] if self.horizon is not None else []
        if self.total_steps is not None:
            ends.append(self.total_steps + 1)
        end = min(min(ends) if ends else 1, limit, MAX_STEP + 1)
        return max(1, -(-end // self.chunk_steps))

    def ensure(self, first: int, stop: int) -> None:
        """Load chunks `[first, stop)` (from memory, disk, then the server); blocks.

        Each missing chunk is fetched once: raises `ScheduleUnavailable` when some chunk
        is neither cached nor fetchable within `wait_timeout` (`CacheError` when its
        cached copy was corrupt), or the `ServerError` the server answered.
        """
        if self.last_chunk is not None:
            stop = min(stop, self.last_chunk + 1)
        missing = [i for i in range(first, stop) if i not in self._chunks]
        if not missing:
            return
        fetch = self._inflight.claim(missing[0], missing[-1] + 1)
        if fetch is not None:
            self._run(fetch)
            if fetch.error is not None:
                raise self.loader.failure(fetch, missing[0])  # not again: the wait is bounded
        for i in missing:
            if i not in self._chunks:
                self._wait_for(i)

    def ensure_cached(self, first: int, stop: int, *, why: str) -> None:
        """Load chunks `[first, stop)` from memory and disk only: the server was found
        unreachable just now (`why`), and asking it again would wait a second time.

        Raises `ScheduleUnavailable` when some chunk is not cached (`CacheError` when its
        cached copy was corrupt).
        """
        if self.last_chunk is not None:
            stop = min(stop, self.last_chunk + 1)
        missing = [i for i in range(first, stop) if i not in self._chunks]
        if not missing:
            return
        self.add_chunks(self.loader.load_cached(missing, why=why))

    def add_chunks(self, chunks: dict[int, np.ndarray]) -> None:
        """Add loaded chunks (of `chunk_steps` values each) and tell the subscribers."""
        with self.lock:
            self._chunks.update(chunks)
            while self._contiguous in self._chunks:
                self._contiguous += 1
            for callback in self._subscribers:
                callback(self)

    def _run(self, fetch: Fetch) -> None:
        try:
            missing = [i for i in range(fetch.first, fetch.stop) if i not in self._chunks]
            self.add_chunks(self.loader.load(missing))
        except Exception as exc:  # handed to whoever waits on this fetch
            fetch.error = exc
        except BaseException as exc:  # Ctrl-C, SystemExit: waiters fail, the caller stops
            fetch.error = exc
            raise
        finally:
            self._inflight.release(fetch)
            fetch.done.set()

    def _wait_for(self, index: int) -> np.ndarray:
        while True:
            chunk = self._chunks.get(index)
            if chunk is not None:
                return chunk
            fetch = self._inflight.get(index)
            if fetch is None:
                fetch = self._inflight.claim(index, index + 1)
                if fetch is None:
                    continue  # another thread claimed it meanwhile: wait on that fetch
                self._run(fetch)
            elif not fetch.done.wait(self.wait_timeout):
                raise ScheduleUnavailable(
                    f"{self.label}: steps {index * self.chunk_steps}.. are not cached and "
                    f"their fetch from {self.url or 'the server'} did not finish within "
                    f"{self.wait_timeout:g} s",
                    ref=self.label,
                    url=self.url,
                )
            chunk = self._chunks.get(index)
            if chunk is not None:
                return chunk
            raise self.loader.failure(fetch, index)

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
        fetch = self._inflight.claim(nxt, nxt + 1)
        if fetch is not None:
            run_in_background(functools.partial(self._prefetch, fetch))

    def _prefetch(self, fetch: Fetch) -> None:
        self._run(fetch)
        if fetch.error is not None:
            self._quiet_until = time.monotonic() + PREFETCH_BACKOFF_S
            log.warning("prefetch of %s failed (retrying later): %s", self.label, fetch.error)

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

    def loaded_slice(self, start: int, end: int) -> np.ndarray:
        """Values of `[start, end)` where `end <= loaded_steps` or past the horizon."""
        if self.horizon is not None and end > self.horizon + 1:
            return self.values(np.arange(start, end, dtype=np.int64))
        C = self.chunk_steps
        parts = [self._chunks[i] for i in range(start // C, -(-end // C))]
        joined = np.concatenate(parts) if len(parts) > 1 else parts[0]
        off = (start // C) * C
        return joined[start - off : end - off]

    def after_fork(self) -> None:
        """In a forked child: fresh locks, no fetches in flight."""
        self.lock = threading.RLock()
        self._inflight.after_fork()


# The process-wide memory cache of curves.
CURVES: dict[CurveKey, Curve] = {}
_registry_lock = threading.Lock()
_forget_hooks: list[Callable[[], None]] = []


def lookup(key: CurveKey) -> Curve | None:
    """The curve of `key` loaded in this process, if any."""
    return CURVES.get(key)


def register(curve: Curve) -> Curve:
    """Add `curve` to the memory cache; if another thread won the race, return its curve."""
    with _registry_lock:
        existing = CURVES.get(curve.key)
        if existing is not None:
            return existing
        CURVES[curve.key] = curve
        return curve


def unregister(curve: Curve) -> None:
    """Drop `curve` from the memory cache if it is the registered one (a failed load)."""
    with _registry_lock:
        if CURVES.get(curve.key) is curve:
            del CURVES[curve.key]


def on_forget(hook: Callable[[], None]) -> None:
    """Run `hook()` whenever `forget_all` drops the memory cache (shims' derived tables)."""
    _forget_hooks.append(hook)


def forget_all() -> None:
    """Drop the memory cache (tests, or to release memory); disk entries stay."""
    with _registry_lock:
        CURVES.clear()
        for hook in _forget_hooks:
            hook()


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for curve in list(CURVES.values()):
        curve.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
