"""The every-rank-or-none agreement of a follower under torch.distributed.

`Agreement` runs the protocol `stepsize.follow` describes over the job's key-value store
(the one `stepsize.distributed` carries the values through): at each sync point rank 0
publishes one decision (none, prepare, commit, abort) and the other ranks carry it out.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from . import errors
from .curves import Curve
from .distributed import ChunkPublisher, job_store, receive_curve
from .pinning import Identity, Pinning
from .refs import Ref
from .track import Track

__all__ = ["Agreement", "Amendment", "Settled"]

log = logging.getLogger("stepsize")


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
