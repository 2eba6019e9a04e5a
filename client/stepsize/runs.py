"""Runs: rank 0 registers the job with the server and reports it in the background.

(Being written: `start_run` and `Run` are the interface the rest of the client uses.)
"""

from __future__ import annotations

from typing import Any

from .pinning import Identity, Pinning

__all__ = ["Run", "start_run"]


class Run:
    """One registered training run, reported by the background heartbeat."""

    def set_current(self, identity: Identity) -> None:
        """The run follows `identity` now (an adopted amendment)."""

    def event(self, kind: str, step: int | None = None, **detail: Any) -> None:
        """Report `kind` (at update `step`) with the next heartbeat."""


def start_run(pinning: Pinning, identity: Identity, *, follow: bool, world_size: int) -> Run | None:
    """The run of a job that just pinned `identity` (registered in the background)."""
    return None
