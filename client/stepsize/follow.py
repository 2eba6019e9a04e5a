"""Following amendments: `client.schedule(ref, follow=True)` (issue 11 items 3 and 4).

An amendment W of version V (`Client.amend`) equals V at every step before its
`from_step`; the server's `GET .../versions/{V}/amendments` names the newest descendant
W of V and `S`, the smallest `from_step` on the path V -> ... -> W, so W equals V at
every step < S. A follower switches the schedule's `Track` (and so its shims) from V to
W between two updates, after update k with `k + 1 <= S`: nothing changes before S, and
update S is the first to use W's values. An amendment of W later is followed the same
way (a chain). A tag moved to an unrelated version is not an amendment and is ignored.

Where the work happens:

- One background daemon thread (rank 0, or the only process) asks the server every
  `STEPSIZE_FOLLOW_POLL_S` seconds for the amendments of the version the track follows
  now, loads W's whole curve (the same `total_steps` and `steps_per_epoch`) and checks
  that it equals the current curve before S (refused and logged if not). Its failures
  (a server down or killed) are counted and logged, never raised: the job keeps its
  curve.
- The training thread calls `track.after_update(k)` after update k (the torch shims'
  optimizer hook does; Keras: `stepsize.keras.Observer`, after each execution). That is `on_update`:
  an attribute check when nothing is pending, never HTTP.

One process: at the first `on_update(k)` after W is prepared, the follower switches if
`k + 1 <= S`; otherwise the job has passed S already: it keeps its curve, logs why and
reports `amendment_refused` with the run (`amendment_adopted` when it switched).

torch.distributed (every rank follows, every rank switches after the same update or
none does): the ranks meet at the sync points, after the updates k with
`(k + 1) % STEPSIZE_FOLLOW_SYNC_STEPS == 0`. At each, rank 0 publishes one decision in
the job's key-value store (`agreement.Agreement`, a non-blocking `set`) and every
other rank reads it (a blocking wait, short: the ranks are in lockstep through their
gradient collectives):

- `none`: nothing to do (also whenever the server cannot be reached);
- `prepare n`: rank 0 has W (its chunks are in the store already): every other rank
  loads W's values from the store in a background thread (never from the server: only
  rank 0 calls it; they are rank 0's, checked there, byte for byte) and acknowledges
  with a counter (`store.add`), or reports its failure;
- `commit n`: decided at a sync point k with `k + 1 <= S` once every other rank
  acknowledged: every rank switches after update k, so lr is identical on every rank at
  every step (a rank waiting longer than the store's timeout for a decision raises
  rather than guess);
- `abort n`: W could not reach every rank at a sync point before S (a rank failed, or
  the last sync point with `k + 1 <= S` came before all had it), or S is too close
  (no sync point after the announcement with `k + 1 <= S`), or already passed: no rank
  switches, every rank logs why, the run gets `amendment_refused`.

Resume: a job restored from a checkpoint keeps the version the checkpoint holds (the
shims' state holds its identity; without `follow` nothing here runs). With
`follow=True`, the follower finds the job resumed at its first update `r` when that is
not update 0 (or when the track is switched by someone else later: a shim's state
loaded with another version). It then moves to the newest amendment of the lineage of
the version it follows: an amendment whose S is at most `r` (published while the job
was down) is adopted although passed, at the next update (one process) or the next
commit (every rank at once), and logged with where the two curves differ (the first
step where they do, before or after the resume step, both lrs at it; the run gets a
`resume` event). Amendments with S after `r` follow the rules above.

Keras (`stepsize.keras.Observer`, a callback given to `fit`) calls `track.after_update(k)`
after each execution, with its last completed update k (`optimizer.iterations - 1`;
every `steps_per_execution` updates): the same rules (`k + 1 <= S`). The sync points
above are torch.distributed's; a Keras job is one process.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from typing import Any

import numpy as np

from . import curves
from .agreement import Agreement, Amendment, Settled
from .curves import Curve
from .pinning import Identity, Pinning
from .refs import Ref
from .track import Track

__all__ = ["Follower", "first_difference"]

log = logging.getLogger("stepsize")

_followers = itertools.count()  # the n-th follower of every rank shares its store keys


def describe(amendment: Amendment) -> str:
    """`ns/name@W (amends ns/name@V from step S)`."""
    return f"{amendment.identity.ref} (amends {amendment.base.ref} from step {amendment.from_step})"


def version_of(identity: Identity) -> int:
    return Ref.parse(identity.ref).version or 0


def compared_extent(identity: Identity, curve: Curve) -> int:
    """How many steps from 0 two curves of a run are compared over: the whole run with
    `total_steps` (or a finite horizon), else the loaded prefix."""
    if identity.total_steps is not None:
        return identity.total_steps + 1
    if identity.horizon is not None:
        return identity.horizon + 1
    return max(1, curve.loaded_steps)


def first_difference(old: Curve, new: Curve, stop: int) -> int | None:
    """The first step in `[0, stop)` where `new`'s value is not bit-identical to
    `old`'s, or None. Loads missing chunks (a bounded wait; raises like `Curve.values`)."""
    steps = np.arange(stop, dtype=np.int64)
    differ = np.flatnonzero(old.values(steps) != new.values(steps))
    return int(differ[0]) if differ.size else None


class Follower:
    """Adopts amendments of a track's version in the background, switching between updates.

    Build it with `attach`; `close` stops its polling thread. Counters: `polls`,
    `poll_failures`; `adopted` and `refused` list what happened (version, reason).
    """

    def __init__(
        self,
        pinning: Pinning,
        track: Track,
        *,
        dist: Any = None,
        poll_s: float | None = None,
        sync_steps: int | None = None,
    ) -> None:
        settings = pinning.settings
        self.pinning = pinning
        self.track = track
        self.poll_s = poll_s if poll_s is not None else settings.follow_poll_s
        self.sync_steps = sync_steps if sync_steps is not None else settings.follow_sync_steps
        index = next(_followers)
        self.agreement: Agreement | None = None
        if dist is not None and dist.get_world_size() > 1:
            self.agreement = Agreement(dist, f"stepsize/follow/{index}", pinning, track)
        self.rank = self.agreement.rank if self.agreement is not None else 0
        self.polls = 0
        self.poll_failures = 0
        self.adopted: list[tuple[int, int]] = []  # (version, the update after which it switched)
        self.refused: list[tuple[int, str]] = []  # (version, why)
        # what the poller prepared, for the training thread (one at a time)
        self.prepared: Amendment | None = None
        self._handled: set[tuple[str, int]] = set()  # (base ref, version) seen already
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_update = -1
        self.resume = Resume(pinning, track)

    def __repr__(self) -> str:
        return f"Follower({self.track.identity.ref!r}, rank={self.rank})"

    @property
    def resumed_at(self) -> int | None:
        """The update at which this process found the job resumed (None: it was not)."""
        return self.resume.at

    @classmethod
    def attach(cls, pinning: Pinning, track: Track, *, dist: Any = None) -> Follower:
        """Follow amendments of `track`'s version: sets `track.on_update` and, on rank 0
        (or without torch.distributed), starts the polling thread. Under
        torch.distributed every rank must call it, in the same order (as
        `Client.schedule` does). Never blocks, never calls the server itself."""
        follower = cls(pinning, track, dist=dist)
        track.on_update = follower.on_update
        _FOLLOWERS[track] = follower
        if follower.rank == 0:
            follower.start()
        return follower

    @staticmethod
    def of(track: Track) -> Follower | None:
        """The follower attached to `track`, if any."""
        return _FOLLOWERS.get(track)

    def start(self) -> None:
        """Start polling the server in a background daemon thread (rank 0 only)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._poll_loop, name="stepsize-follow", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        """Stop polling (what was adopted stays); waits for the thread a moment."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    # the background thread (rank 0): ask, load, check

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.poll_s)

    def poll(self) -> Amendment | None:
        """Ask the server once for an amendment of the current version and prepare it.

        Never raises: a failure is counted (`poll_failures`) and logged (the first,
        then at 10, 100, ...). Returns the amendment prepared, if any."""
        if self.prepared is not None or (self.agreement and self.agreement.announced):
            return None  # one at a time: the training thread has not settled the last one
        base = self.track.identity
        self.polls += 1
        try:
            latest = self.pinning.registry.amendments(Ref.parse(base.ref)).get("latest")
            if not latest or (base.ref, int(latest["version"])) in self._handled:
                return None
            version, from_step = int(latest["version"]), int(latest["from_step"])
            self._handled.add((base.ref, version))
            amendment = self._load(base, version, from_step)
        except Exception as exc:  # the boundary: the training job must never see it
            self.poll_failures += 1
            if _log_now(self.poll_failures):
                log.warning(
                    "stepsize follow: asking %s for amendments of %s failed (%d failure(s) "
                    "so far; the job keeps its curve): %s",
                    self.pinning.url,
                    base.ref,
                    self.poll_failures,
                    exc,
                )
            return None
        if amendment is not None:
            if self.agreement is not None:
                self.agreement.share(amendment.curve)  # before it is announced
            log.info("stepsize follow: prepared %s", describe(amendment))
            self.prepared = amendment
        return amendment

    def _load(self, base: Identity, version: int, from_step: int) -> Amendment | None:
        """W's identity and curve (same run sizes), checked against the current curve
        before `from_step`; None (logged, reported) when they differ there. Raises what
        resolving and loading raise."""
        pinned = Ref.parse(base.ref).pinned(version)
        identity = self.pinning.resolve(pinned, base.total_steps, base.steps_per_epoch)
        curve = self.pinning.load_curve(identity)
        current = self.track.curve
        stop = min(from_step, compared_extent(base, current))
        differs = first_difference(current, curve, stop)
        if differs is not None:
            self._refuse(
                version,
                f"its values differ from {base.ref}'s at step {differs}, before its "
                f"from_step {from_step}",
                step=None,
            )
            return None
        return Amendment(base, identity, curve, from_step)

    # the training thread

    def on_update(self, update: int) -> None:
        """Update `update` is done (training thread): switch, sync or do nothing.
        A repeated call for the same update (two shims observing one optimizer) is
        ignored."""
        if update == self._last_update:
            return
        self._last_update = update
        if self.track.identity is not self.resume.current:
            self.resume.look(update)
        agreement = self.agreement
        if agreement is not None:
            if (update + 1) % self.sync_steps == 0:
                self._sync(agreement, update)
            return
        amendment = self.prepared
        if amendment is None:
            return
        self.prepared = None
        if amendment.base != self.track.identity:
            return  # the track moved meanwhile (a resume): the next poll starts from there
        if update + 1 <= amendment.from_step or self.resume.applies(amendment):
            self._adopt(amendment, update)
        else:
            self._refuse(
                amendment.version,
                f"the job had done update {update} when it arrived, past its from_step "
                f"{amendment.from_step}",
                step=update,
            )

    def _sync(self, agreement: Agreement, update: int) -> None:
        """Every rank, at the sync point after `update`: rank 0 hands over what its
        poller prepared (unless one is being agreed on); every rank does what rank 0
        decided."""
        candidate = None
        if self.rank == 0 and agreement.announced is None and self.prepared is not None:
            candidate, self.prepared = self.prepared, None
            if candidate.base != self.track.identity:
                candidate = None  # the track moved meanwhile (a resume)
        point = (update + 1) // self.sync_steps
        settled: Settled | None = agreement.sync(
            point, update, self.sync_steps, candidate, resumed_at=self.resume.at
        )
        if settled is None:
            return
        if settled.amendment is not None and settled.refused is None:
            self._adopt(settled.amendment, update)
        else:
            self._refuse(settled.version, settled.refused or "", step=update)

    def _adopt(self, amendment: Amendment, update: int) -> None:
        self.track.switch(amendment.identity, amendment.curve)
        self.resume.current = self.track.identity
        self.adopted.append((amendment.version, update))
        if self.resume.applies(amendment):
            self.resume.moved(amendment, update)
        log.info(
            "stepsize follow: adopted %s after update %d: update %d is the first on its values",
            describe(amendment),
            update,
            max(amendment.from_step, update + 1),
        )
        run = self.track.run
        if run is not None:
            run.event(
                "amendment_adopted",
                amendment.from_step,
                version=amendment.version,
                previous=version_of(amendment.base),
                from_step=amendment.from_step,
                after_update=update,
            )

    def _refuse(self, version: int, why: str, *, step: int | None) -> None:
        self.refused.append((version, why))
        log.warning(
            "stepsize follow: not adopting %s@%d (rank %d keeps %s): %s",
            Ref.parse(self.track.identity.ref).schedule,
            version,
            self.rank,
            self.track.identity.ref,
            why,
        )
        run = self.track.run
        if run is not None:
            run.event("amendment_refused", step, version=version, reason=why)


class Resume:
    """The resume policy of one follower (issue 11 item 4): when this process found the
    job resumed (`at`), and what that lets it adopt."""

    def __init__(self, pinning: Pinning, track: Track) -> None:
        self.pinning = pinning
        self.track = track
        self.at: int | None = None
        self.current: Identity | None = None  # what the track followed at the last look
        self._first = True

    def look(self, update: int) -> None:
        """At the first update of this process, or after someone else switched the track
        (a shim's state loaded from a checkpoint): a resume when the job did not start at
        update 0 or its version changed."""
        first, self._first = self._first, False
        moved = self.track.identity != self.current
        self.current = self.track.identity
        if (first and update > 0) or (not first and moved):
            self.at = update
            log.info(
                "stepsize follow: resumed at update %d on %s: it moves to the newest "
                "amendment of that version's lineage when the server names one",
                update,
                self.current.ref,
            )

    def applies(self, amendment: Amendment) -> bool:
        """An amendment whose from_step the job had passed when it resumed (published
        while it was down) is adopted all the same."""
        return self.at is not None and amendment.from_step <= self.at

    def moved(self, amendment: Amendment, update: int) -> None:
        """Log (and report) where the resumed job's curve and the amendment it moved to
        after `update` differ: a one-off comparison over the run."""
        start = self.at if self.at is not None else update
        base, new = amendment.base, amendment.identity
        old_curve = curves.lookup(base.key) or self.pinning.load_curve(base)
        stop = max(compared_extent(base, old_curve), compared_extent(new, amendment.curve))
        stop = max(stop, start + 1)
        differs = first_difference(old_curve, amendment.curve, stop)
        if differs is None:
            where = f"they are equal on steps 0..{stop - 1}"
        else:
            side = "before" if differs < start else "at or after"
            where = f"they first differ at step {differs}, {side} the resume step {start}"
        old_lr, new_lr = old_curve.value(start), amendment.curve.value(start)
        summary = (
            f"resumed at update {start} on {base.ref}, moved to its newest amendment "
            f"{new.ref} after update {update}: {where}; lr({start}) = {old_lr!r} on "
            f"{base.ref}, {new_lr!r} on {new.ref}"
        )
        log.warning("stepsize follow: %s", summary)
        run = self.track.run
        if run is not None:
            run.event("resume", start, version=amendment.version, detail=summary)


def _log_now(count: int) -> bool:
    """Log the 1st, 10th, 100th, ... failure (first, then rarely)."""
    return count == 1 or (count % 10 == 0 and _log_now(count // 10))


_FOLLOWERS: weakref.WeakKeyDictionary[Track, Follower] = weakref.WeakKeyDictionary()
