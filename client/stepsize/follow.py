"""Following amendments: `client.schedule(ref, follow=True)`.

(Being written: `Follower.attach` is the interface `Client.schedule` uses.)
"""

from __future__ import annotations

from typing import Any

from .pinning import Pinning
from .track import Track

__all__ = ["Follower"]


class Follower:
    """Adopts amendments of a track's version in the background, switching between updates."""

    @classmethod
    def attach(cls, pinning: Pinning, track: Track, *, dist: Any = None) -> Follower:
        raise NotImplementedError("follow=True is being written")
