"""One fetch per job, for the whole run: rank 0 talks to the server, the job's store
carries the values.

Every rank calls `Client.schedule` with the same arguments (as with any collective);
it calls `broadcast_schedule` with its `Pinning` when `torch_distributed()` finds a
process group. Everything goes through the process group's key-value store (the
TCPStore or FileStore of `init_process_group`), never through a collective, so every
wait has a deadline and no training collective is interleaved:

1. Check-in: every rank adds itself to the call's counter and waits, at most the
   construction wait bound (`wait_timeout`), for all ranks. A call made on some ranks
   only fails there with a message that says so, instead of hanging every rank until
   the process group's timeout.
2. Rank 0 resolves the reference and loads the up-front range; it publishes the pinned
   identity (or its error: every rank then raises the same exception class, its
   message prefixed with the rank), and every chunk its curve loads, then and later.
3. The other ranks read the identity and build their curve with the store as its
   source: chunks past the first range (an open-ended run) come from rank 0's
   background prefetch through the store. Only rank 0 ever calls the server; every
   rank has the same values, so the same lr at every step.

A follower (`client.schedule(ref, follow=True)`) agrees on amendments through the same
store: `stepsize.agreement.Agreement`, whose protocol `stepsize.follow` describes.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import weakref
from datetime import timedelta
from typing import Any

import numpy as np

from . import errors
from .curves import Curve
from .pinning import Identity, Pinning
from .prefetch import Source
from .refs import Ref

__all__ = [
    "broadcast_schedule",
    "receive_curve",
    "torch_distributed",
]

log = logging.getLogger("stepsize")

_calls = itertools.count()  # the k-th collective call of every rank shares its keys
POLL_S = 0.02


def torch_distributed() -> Any:
    """torch.distributed when torch is already imported and a group of >1 is initialized."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return None
    dist = getattr(torch, "distributed", None)
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return dist if dist.get_world_size() > 1 else None


def job_store(dist: Any) -> Any:
    """The default process group's key-value store (set up by `init_process_group`)."""
    return dist.distributed_c10d._get_default_store()


def broadcast_schedule(
    pinning: Pinning,
    dist: Any,
    parsed: Ref,
    total_steps: int | None,
    steps_per_epoch: int | None,
) -> tuple[Identity, Curve]:
    """Pin `parsed` on rank 0 and share the identity and the values with every rank.

    A collective: every rank must call it. Raises `StepsizeError` on the ranks that
    called it when some rank did not within `wait_timeout`, and on every rank what
    rank 0 raised (the same exception class, its message prefixed with the rank).
    """
    store = job_store(dist)
    rank, world = dist.get_rank(), dist.get_world_size()
    prefix = f"stepsize/schedule/{next(_calls)}"
    bound = pinning.wait_timeout
    arrived = _check_in(store, f"{prefix}/arrived", world, bound)
    if rank == 0:
        if arrived < world:
            error = _not_collective(parsed, arrived, world, bound, rank)
            _publish_error(store, f"{prefix}/result", error)
            raise error
        try:
            identity, curve = pinning.pin(parsed, total_steps, steps_per_epoch)
        except Exception as exc:  # any failure must reach the other ranks, or they wait
            _publish_error(store, f"{prefix}/result", exc)
            raise
        ChunkPublisher.attach(curve, store)
        payload = {"identity": identity.as_dict(), "chunk_steps": curve.chunk_steps}
        store.set(f"{prefix}/result", json.dumps(payload))
        return identity, curve
    if arrived < world:
        raise _not_collective(parsed, arrived, world, bound, rank)
    # rank 0 resolves and loads within about one bound; give it that, and some slack
    payload = json.loads(_read(store, f"{prefix}/result", 2 * bound + 10, parsed, rank))
    if "error" in payload:
        raise _error(payload, rank)
    identity = Identity(**payload["identity"])
    return identity, receive_curve(pinning, store, identity, int(payload["chunk_steps"]), rank)


def receive_curve(
    pinning: Pinning, store: Any, identity: Identity, chunk_steps: int, rank: int
) -> Curve:
    """The curve of `identity` on a rank other than 0: its up-front range (the same as
    rank 0's) read from the chunks rank 0 publishes (`ChunkPublisher`), later chunks too.
    Raises `Unreachable` when rank 0 has not published them within `wait_timeout`."""
    curve = pinning.new_curve(identity, chunk_steps=chunk_steps)  # rank 0's chunks, 1:1
    curve.source = store_source(store, identity, chunk_steps, pinning.wait_timeout, rank)
    curve.ensure(0, curve.upfront_chunks(pinning.upfront_limit))
    return curve


def _check_in(store: Any, key: str, world: int, bound: float) -> int:
    """Add this rank to `key`; the number of ranks there once all came or `bound` passed."""
    count = int(store.add(key, 1))
    deadline = time.monotonic() + bound
    while count < world and time.monotonic() < deadline:
        time.sleep(POLL_S)
        count = int(store.add(key, 0))
    return count


def _not_collective(
    parsed: Ref, arrived: int, world: int, bound: float, rank: int
) -> errors.StepsizeError:
    return errors.StepsizeError(
        f"client.schedule({str(parsed)!r}) is collective under torch.distributed, but only "
        f"{arrived} of {world} ranks called it within {bound:g} s (this is rank {rank}). "
        "Call it on every rank with the same arguments, or pass distributed=False to "
        "load the schedule in this process alone."
    )


def _publish_error(store: Any, key: str, exc: Exception) -> None:
    payload = {
        "error": type(exc).__name__,
        "message": str(exc),
        "status": getattr(exc, "status", 0),
        "code": getattr(exc, "code", ""),
        "ref": getattr(exc, "ref", ""),
        "url": getattr(exc, "url", ""),
    }
    store.set(key, json.dumps(payload))


def _read(store: Any, key: str, timeout: float, parsed: Ref, rank: int) -> bytes:
    """The value of `key` once rank 0 set it; raises ScheduleUnavailable after `timeout`."""
    try:
        store.wait([key], timedelta(seconds=timeout))
    except Exception as exc:  # the store raises its own timeout error (a RuntimeError)
        raise errors.ScheduleUnavailable(
            f"{parsed}: rank 0 did not share the schedule within {timeout:g} s (this is "
            f"rank {rank}): {exc}",
            ref=str(parsed),
        ) from exc
    value: bytes = store.get(key)
    return value


def chunk_key(identity_key: tuple[str, int | None], chunk_steps: int, index: int) -> str:
    """The store key of rank 0's chunk `index` (of `chunk_steps` values) of a curve."""
    digest, steps_per_epoch = identity_key
    return f"stepsize/chunks/{digest}/{steps_per_epoch}/{chunk_steps}/{index}"


class ChunkPublisher:
    """Puts every chunk rank 0's curve loads into the job's store (a curve subscriber)."""

    _attached: weakref.WeakKeyDictionary[Curve, set[int]] = weakref.WeakKeyDictionary()
    _lock = threading.Lock()

    def __init__(self, store: Any) -> None:
        self.store = store
        self.published: set[int] = set()

    @classmethod
    def attach(cls, curve: Curve, store: Any) -> None:
        """Publish `curve`'s chunks to `store` from now on (once per curve and store)."""
        with cls._lock:
            stores = cls._attached.setdefault(curve, set())
            if id(store) in stores:
                return
            stores.add(id(store))
        curve.subscribe(cls(store).publish)

    def publish(self, curve: Curve) -> None:
        """Set the chunks not published yet (called under `curve.lock`)."""
        for index, values in curve.chunks.items():
            if index not in self.published:
                key = chunk_key(curve.key, curve.chunk_steps, index)
                self.store.set(key, np.ascontiguousarray(values, dtype="<f8").tobytes())
                self.published.add(index)


def store_source(
    store: Any, identity: Identity, chunk_steps: int, timeout: float, rank: int
) -> Source:
    """A `Source` reading `[start, stop)` from the chunks rank 0 publishes (each wait at
    most `timeout`); raises `Unreachable` when rank 0 has not published one in time."""

    def fetch(start: int, stop: int) -> np.ndarray:
        first, last = start // chunk_steps, (stop - 1) // chunk_steps
        keys = [chunk_key(identity.key, chunk_steps, i) for i in range(first, last + 1)]
        try:
            store.wait(keys, timedelta(seconds=timeout))
        except Exception as exc:  # the store's timeout error
            raise errors.Unreachable(
                f"{identity.ref}: rank 0 did not share steps {start}.. within {timeout:g} s "
                f"(this is rank {rank}; only rank 0 calls the server): {exc}",
                ref=identity.ref,
            ) from exc
        values = np.concatenate([np.frombuffer(store.get(k), dtype="<f8") for k in keys])
        offset = first * chunk_steps
        return values[start - offset : stop - offset].copy()

    return fetch


def _error(payload: dict[str, Any], rank: int) -> errors.StepsizeError:
    message = f"rank 0 could not load the schedule (this is rank {rank}): {payload['message']}"
    cls = getattr(errors, str(payload.get("error")), None)
    ref, url = str(payload.get("ref") or ""), str(payload.get("url") or "")
    if isinstance(cls, type) and issubclass(cls, errors.ServerError):
        status, code = int(payload.get("status") or 0), str(payload.get("code") or "")
        return cls(message, status=status, code=code)
    if isinstance(cls, type) and issubclass(cls, (errors.ScheduleUnavailable, errors.Unreachable)):
        return cls(message, ref=ref, url=url)
    if isinstance(cls, type) and issubclass(cls, errors.StepsizeError):
        return cls(message)
    return errors.StepsizeError(message)
