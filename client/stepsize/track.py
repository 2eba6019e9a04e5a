"""What a pinned schedule's shims follow now: an identity, its loaded curve, and its run.

A `Schedule` owns one `Track`; every shim it hands out (the Keras schedule, the torch
lambda and scheduler) reads its identity and curve through it. Two things act on a track:

- the run (`stepsize.runs.Run`, rank 0 only, None when runs are off) is what the
  background heartbeat reports: progress, observations, events;
- a follower (`client.schedule(ref, follow=True)`) adopts an amendment by calling
  `switch` in the training thread, between two updates; the shims, subscribed, switch
  their tables with it. An amendment equals the old version before its `from_step`, so
  a switch made before the update `from_step` changes nothing until then.

The shims' observers call `after_update(k)` in the training thread once update `k` is
done: that is the follower's only point of contact with the training step (no HTTP
there: it reads what the follower's background thread prepared).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from .curves import Curve
from .pinning import Identity

if TYPE_CHECKING:
    from .runs import Run

__all__ = ["Track"]

Switched = Callable[[Identity, Curve], None]


class Track:
    """The identity and curve a schedule's shims follow, switched only between updates."""

    def __init__(self, identity: Identity, curve: Curve, *, run: Run | None = None) -> None:
        self.identity = identity
        self.curve = curve
        self.run = run
        # set by a follower: called in the training thread after each update
        self.on_update: Callable[[int], None] | None = None
        self._subscribers: list[Switched] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Track({self.identity.ref!r})"

    def subscribe(self, switched: Switched) -> None:
        """Call `switched(identity, curve)` on every later `switch`."""
        with self._lock:
            self._subscribers.append(switched)

    def switch(self, identity: Identity, curve: Curve) -> None:
        """Follow `identity` (whose `curve` is loaded) from now on; tells the subscribers
        (the shims), then the run. Call it in the training thread, between updates."""
        with self._lock:
            self.identity, self.curve = identity, curve
            subscribers = list(self._subscribers)
        for switched in subscribers:
            switched(identity, curve)
        if self.run is not None:
            self.run.set_current(identity)

    def after_update(self, update: int) -> None:
        """Update `update` is done (the training thread): the follower's turn, if any."""
        on_update = self.on_update
        if on_update is not None:
            on_update(update)
