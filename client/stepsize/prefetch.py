"""Loading chunks (disk, then the server), fetches in flight, the background thread.

`ChunkLoader` reads a curve's chunks from the disk cache and fetches the rest from its
`Source`, in as few requests as the server's range limit allows. A `Fetch` is one load
of chunks `[first, stop)` of a curve. `InflightFetches` makes sure each chunk has at
most one fetch at a time: whoever needs a chunk that is already being fetched waits on
that fetch (bounded) instead of starting another. `run_in_background` hands a prefetch
to the process's prefetch thread: a queue put, not a thread start, so that triggering
one costs a training step next to nothing.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable

import numpy as np

from .disk import CurveKey, DiskCache
from .errors import CacheError, ScheduleUnavailable, StepsizeError, Unreachable
from .steps import MAX_STEP, MAX_VALUES_PER_REQUEST

__all__ = ["ChunkLoader", "Fetch", "InflightFetches", "Source", "run_in_background"]

Source = Callable[[int, int], np.ndarray]
"""Fetches the values of steps `[start, stop)` from the server; raises `Unreachable`."""


class ChunkLoader:
    """Loads chunks of one curve: from the disk cache, else from `source`.

    `label` (the pinned reference) and `url` (the server) name what failed in errors.
    """

    def __init__(
        self,
        key: CurveKey,
        *,
        label: str,
        url: str,
        chunk_steps: int,
        disk: DiskCache | None,
        source: Source | None,
    ) -> None:
        self.key = key
        self.label = label
        self.url = url
        self.chunk_steps = chunk_steps
        self.disk = disk
        self.source = source
        self.fetches = 0  # requests for chunks that went to the server

    def load(self, indices: list[int]) -> dict[int, np.ndarray]:
        """Chunks `indices` (ascending), read from disk or fetched (then written to disk).

        Raises `ScheduleUnavailable` when some are neither on disk nor fetchable,
        `CacheError` when a corrupt cached chunk (deleted) cannot be fetched again, and
        the `ServerError` the server answered.
        """
        C = self.chunk_steps
        found, missing, corrupt = self.read_disk(indices)
        per_request = max(1, MAX_VALUES_PER_REQUEST // C)
        runs: list[tuple[int, int]] = []
        for i in missing:
            if runs and runs[-1][1] == i and i - runs[-1][0] < per_request:
                runs[-1] = (runs[-1][0], i + 1)
            else:
                runs.append((i, i + 1))
        for lo, hi in runs:
            try:
                values = self.fetch(lo * C, hi * C)
            except ScheduleUnavailable as exc:
                if corrupt is None:
                    raise
                raise CacheError(
                    f"{self.label}: {corrupt}, and it cannot be fetched again: {exc}",
                    path=corrupt.path,
                    ref=self.label,
                    url=self.url,
                ) from exc
            for i in range(lo, hi):
                chunk = values[(i - lo) * C : (i - lo + 1) * C]
                found[i] = chunk
                if self.disk is not None:
                    self.disk.store_chunk(self.key, C, i, chunk)
        return found

    def load_cached(self, indices: list[int], *, why: str) -> dict[int, np.ndarray]:
        """Chunks `indices` from disk only: the server cannot be reached (`why`).

        Raises `ScheduleUnavailable` when some are not on disk (`CacheError` when the
        cached copy of one was corrupt).
        """
        found, absent, corrupt = self.read_disk(indices)
        if not absent:
            return found
        where = f"the cache ({self.disk.root})" if self.disk else "memory"
        message = (
            f"{self.label}: steps {absent[0] * self.chunk_steps}.. are not in {where} and "
            f"the server cannot be reached: {why}"
        )
        if corrupt is not None:
            raise CacheError(
                f"{self.label}: {corrupt}; {message}",
                path=corrupt.path,
                ref=self.label,
                url=self.url,
            )
        raise ScheduleUnavailable(message, ref=self.label, url=self.url)

    def failure(self, fetch: Fetch, index: int) -> StepsizeError:
        """The error to raise for a lookup of chunk `index` whose `fetch` failed."""
        error = fetch.error
        if isinstance(error, StepsizeError):
            return error
        reason = "was interrupted" if isinstance(error, KeyboardInterrupt) else f"failed: {error}"
        failure = ScheduleUnavailable(
            f"{self.label}: the fetch of steps {index * self.chunk_steps}.. from "
            f"{self.url or 'the server'} {reason}",
            ref=self.label,
            url=self.url,
        )
        failure.__cause__ = error
        return failure

    def read_disk(
        self, indices: list[int]
    ) -> tuple[dict[int, np.ndarray], list[int], CacheError | None]:
        """The chunks of `indices` on disk, those that are not, and the error of the last
        corrupt one found (deleted, so it counts as not on disk)."""
        found: dict[int, np.ndarray] = {}
        missing: list[int] = []
        corrupt: CacheError | None = None
        for i in indices:
            try:
                chunk = self.disk.load_chunk(self.key, self.chunk_steps, i) if self.disk else None
            except CacheError as exc:  # deleted: fetch it again
                corrupt, chunk = exc, None
            if chunk is None:
                missing.append(i)
            else:
                found[i] = chunk
        return found, missing, corrupt

    def fetch(self, start: int, stop: int) -> np.ndarray:
        """Values of `[start, stop)` from the server (past 2**53: the last value repeated).

        Raises `ScheduleUnavailable` (naming the reference and the server) when there is
        no source or the server cannot be reached.
        """
        where = f" (cache: {self.disk.root})" if self.disk is not None else ""
        if self.source is None:
            raise ScheduleUnavailable(
                f"{self.label}: steps [{start}, {stop}) are not in the cache{where} and the "
                "client is offline (STEPSIZE_OFFLINE=1 or offline=True): the server "
                f"{self.url} is not called",
                ref=self.label,
                url=self.url,
            )
        stop_clipped = min(stop, MAX_STEP + 1)
        try:
            values = self.source(start, stop_clipped)
        except Unreachable as exc:
            raise ScheduleUnavailable(
                f"{self.label}: steps [{start}, {stop}) are not in the cache{where} and the "
                f"server cannot be reached: {exc}",
                ref=self.label,
                url=exc.url or self.url,
            ) from exc
        self.fetches += 1
        if stop_clipped < stop:
            values = np.concatenate([values, np.full(stop - stop_clipped, values[-1])])
        return values


class Fetch:
    """One in-flight load of chunks `[first, stop)`; `done` is set when it ended, with
    `error` the exception it ended with (None on success)."""

    def __init__(self, first: int, stop: int) -> None:
        self.first = first
        self.stop = stop
        self.done = threading.Event()
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        return f"Fetch([{self.first}, {self.stop}), done={self.done.is_set()})"


class InflightFetches:
    """The fetches in flight of one curve, by chunk index; thread-safe."""

    def __init__(self) -> None:
        self._by_chunk: dict[int, Fetch] = {}
        self._lock = threading.Lock()

    def __contains__(self, index: int) -> bool:
        return index in self._by_chunk

    def get(self, index: int) -> Fetch | None:
        """The fetch now loading chunk `index`, if any."""
        with self._lock:
            return self._by_chunk.get(index)

    def claim(self, first: int, stop: int) -> Fetch | None:
        """A new fetch of `[first, stop)` for the caller to run, or None when some of
        those chunks are already being fetched (then wait on that fetch instead)."""
        with self._lock:
            if any(i in self._by_chunk for i in range(first, stop)):
                return None
            fetch = Fetch(first, stop)
            for i in range(first, stop):
                self._by_chunk[i] = fetch
            return fetch

    def release(self, fetch: Fetch) -> None:
        """Forget `fetch` (it ended); a later lookup of its chunks may claim them again."""
        with self._lock:
            for i in range(fetch.first, fetch.stop):
                if self._by_chunk.get(i) is fetch:
                    del self._by_chunk[i]

    def after_fork(self) -> None:
        """In a forked child: the parent's fetches (and their threads) are not ours."""
        self._by_chunk = {}
        self._lock = threading.Lock()


# One background thread per process runs the prefetches, queued, one at a time.
_jobs: queue.SimpleQueue[Callable[[], None]] | None = None
_jobs_lock = threading.Lock()


def run_in_background(job: Callable[[], None]) -> None:
    """Queue `job` for the prefetch thread (started on first use). `job` must not raise:
    it is the prefetch, which records its failure on its `Fetch`."""
    global _jobs
    with _jobs_lock:
        if _jobs is None:
            _jobs = queue.SimpleQueue()
            threading.Thread(
                target=_work, args=(_jobs,), name="stepsize-prefetch", daemon=True
            ).start()
        _jobs.put(job)


def _work(jobs: queue.SimpleQueue[Callable[[], None]]) -> None:
    while True:
        jobs.get()()


def _after_fork_in_child() -> None:
    global _jobs, _jobs_lock
    _jobs_lock = threading.Lock()
    _jobs = None  # the parent's thread does not exist here


os.register_at_fork(after_in_child=_after_fork_in_child)
