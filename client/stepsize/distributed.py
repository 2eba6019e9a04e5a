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
store: `Agreement`, whose protocol `stepsize.follow` describes.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from . import errors
from .curves import Curve
from .pinning import Identity, Pinning
from .prefetch import Source
from .refs import Ref
from .track import Track

__all__ = [
    "Agreement",
    "Amendment",
    "Settled",
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


@dataclass(frozen=True)
class Amendment:
    """A newer version of a track's lineage, loaded and checked (rank 0 checks; the other
    ranks get rank 0's values byte for byte): `identity` equals `base` at every step
    before `from_step`."""

    base: Identity
    identity: Identity
    curve: Curve
    from_step: int

    @property
    def version(self) -> int:
        return Ref.parse(self.identity.ref).version or 0


@dataclass(frozen=True)
class Settled:
    """What every rank does at a sync point: adopt `amendment` now (`refused` None), or
    not adopt `version` (`refused` says why)."""

    version: int
    amendment: Amendment | None
    refused: str | None = None


class Agreement:
    """The every-rank-or-none protocol of a follower under torch.distributed
    (`stepsize.follow` describes it), over the job's key-value store.

    `sync` is called on every rank at every sync point, in the training thread: rank 0
    decides without waiting (its `set` and counter reads are local store calls) and every
    other rank waits for that decision, at most `wait_s` (the store's own timeout: a rank
    that cannot hear rank 0 that long is in a job whose collectives fail too).
    """

    def __init__(
        self, dist: Any, prefix: str, pinning: Pinning, track: Track, *, wait_s: float | None = None
    ) -> None:
        self.store = job_store(dist)
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.prefix = prefix
        self.pinning = pinning
        self.track = track
        if wait_s is None:
            timeout = getattr(self.store, "timeout", None)
            wait_s = timeout.total_seconds() if isinstance(timeout, timedelta) else 1800.0
        self.wait_s = wait_s
        self.announced: tuple[int, Amendment] | None = None  # rank 0: being prepared
        self._numbers = itertools.count()
        self._staged: dict[int, Amendment] = {}  # the other ranks: prepared, by number

    def share(self, curve: Curve) -> None:
        """Rank 0 (background): publish `curve`'s chunks before announcing them."""
        ChunkPublisher.attach(curve, self.store)

    def sync(
        self,
        point: int,
        update: int,
        sync_steps: int,
        candidate: Amendment | None,
        *,
        resumed_at: int | None = None,
    ) -> Settled | None:
        """The sync point `point`, after `update`: rank 0 decides (about `candidate`,
        newly prepared, if any and nothing is announced); every rank carries the
        decision out. `resumed_at`: the job resumed at that update, so an amendment
        whose from_step is not after it is adopted even though it was passed (the resume
        policy). Raises `StepsizeError` on a rank that rank 0 did not answer."""
        key = f"decision/{point}"
        if self.rank == 0:
            decision = self._decide(update, update + sync_steps + 1, candidate, resumed_at)
            self._set(key, decision)
        else:
            decision = self._get(key)
        return self._carry_out(decision)

    def _decide(
        self, update: int, after_next: int, candidate: Amendment | None, resumed_at: int | None
    ) -> dict[str, Any]:
        # a commit at the sync point after update k needs k + 1 <= from_step (unless the
        # resume policy applies); the next sync point's k + 1 is `after_next`
        if self.announced is not None:
            number, amendment = self.announced
            resume = resumed_at is not None and amendment.from_step <= resumed_at
            ready = int(self.store.add(f"{self.prefix}/ready/{number}", 0))
            failed = int(self.store.add(f"{self.prefix}/failed/{number}", 0))
            if failed:
                return _abort(number, amendment, self._failure(number))
            if ready == self.world - 1 and (resume or update + 1 <= amendment.from_step):
                return {"op": "commit", "n": number}
            if not resume and after_next > amendment.from_step:
                return _abort(
                    number,
                    amendment,
                    f"only {ready} of the {self.world - 1} other ranks had its values at "
                    f"the last sync point before step {amendment.from_step} (after update "
                    f"{update}; STEPSIZE_FOLLOW_SYNC_STEPS sets their interval)",
                )
            return {"op": "none"}
        if candidate is None:
            return {"op": "none"}
        number = next(self._numbers)
        resume = resumed_at is not None and candidate.from_step <= resumed_at
        if not resume and update + 1 > candidate.from_step:
            why = f"the job had done update {update}, past its from_step {candidate.from_step}"
            return _abort(number, candidate, why)
        if not resume and after_next > candidate.from_step:
            why = (
                f"no sync point is left between update {update} and its from_step "
                f"{candidate.from_step} at which every rank could switch "
                "(STEPSIZE_FOLLOW_SYNC_STEPS sets their interval)"
            )
            return _abort(number, candidate, why)
        self.announced = (number, candidate)
        return {
            "op": "prepare",
            "n": number,
            "identity": candidate.identity.as_dict(),
            "template_digest": candidate.identity.template_digest,
            "chunk_steps": candidate.curve.chunk_steps,
            "from_step": candidate.from_step,
            "base": candidate.base.ref,
        }

    def _carry_out(self, decision: dict[str, Any]) -> Settled | None:
        op = decision["op"]
        if op == "none":
            return None
        number = int(decision["n"])
        if op == "prepare":
            if self.rank != 0:
                threading.Thread(
                    target=self._stage, args=(decision,), name="stepsize-follow", daemon=True
                ).start()
            return None
        mine = self.announced if self.rank == 0 else None
        if self.rank == 0:
            self.announced = None
        if op == "commit":
            # every other rank acknowledged, so it staged the amendment
            amendment = mine[1] if mine is not None else self._staged.pop(number)
            return Settled(amendment.version, amendment)
        self._staged.pop(number, None)
        return Settled(int(decision["version"]), None, str(decision["reason"]))

    def _stage(self, decision: dict[str, Any]) -> None:
        """Another rank, in the background: rank 0's values of the amendment from the
        store, then acknowledged (or the failure told to rank 0). Never raises."""
        number = int(decision["n"])
        try:
            identity = Identity(
                **decision["identity"], template_digest=decision.get("template_digest")
            )
            # a connection of its own: a wait here must not hold up the training thread's
            # reads of the decisions on the store's connection
            clone = getattr(self.store, "clone", None)
            store = clone() if clone is not None else self.store
            curve = receive_curve(
                self.pinning, store, identity, int(decision["chunk_steps"]), self.rank
            )
            base = self.track.identity
            if base.ref != decision["base"]:
                raise errors.StepsizeError(
                    f"rank {self.rank} follows {base.ref}, not {decision['base']}"
                )
            self._staged[number] = Amendment(base, identity, curve, int(decision["from_step"]))
        except Exception as exc:  # told to rank 0, which aborts on every rank
            log.warning(
                "stepsize follow: rank %d could not prepare an amendment: %s", self.rank, exc
            )
            self.store.set(
                f"{self.prefix}/error/{number}/{self.rank}", f"{type(exc).__name__}: {exc}"
            )
            self.store.add(f"{self.prefix}/failed/{number}", 1)
            return
        self.store.add(f"{self.prefix}/ready/{number}", 1)

    def _failure(self, number: int) -> str:
        for rank in range(1, self.world):
            key = f"{self.prefix}/error/{number}/{rank}"
            if self.store.check([key]):
                return f"rank {rank} could not load its values: {self.store.get(key).decode()}"
        return "a rank could not load its values"

    def _set(self, key: str, message: dict[str, Any]) -> None:
        self.store.set(f"{self.prefix}/{key}", json.dumps(message))

    def _get(self, key: str) -> dict[str, Any]:
        full = f"{self.prefix}/{key}"
        try:
            self.store.wait([full], timedelta(seconds=self.wait_s))
        except Exception as exc:  # the store's timeout error (a RuntimeError)
            raise errors.StepsizeError(
                f"rank 0 did not publish the follower's {key} within {self.wait_s:g} s (this "
                f"is rank {self.rank}); it stops rather than risk an lr unlike rank 0's: {exc}"
            ) from exc
        message: dict[str, Any] = json.loads(self.store.get(full))
        return message


def _abort(number: int, amendment: Amendment, why: str) -> dict[str, Any]:
    """The decision that no rank adopts amendment `number`, and why."""
    return {"op": "abort", "n": number, "version": amendment.version, "reason": why}
