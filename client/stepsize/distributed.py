"""One fetch per job: rank 0 talks to the server, torch.distributed carries the values.

Every rank calls `Client.schedule` with the same arguments (as with any collective);
it calls `broadcast_schedule` with its `Pinning` when `torch_distributed()` finds a
process group.
Rank 0 resolves the reference and loads the up-front range; the pinned identity and the
values then reach the other ranks by `broadcast_object_list` and `broadcast`. If rank 0
fails, every rank raises the same error, so no rank waits forever or trains on guesses.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import numpy as np

from . import errors
from .curves import Curve
from .pinning import Identity, Pinning
from .refs import Ref

__all__ = ["broadcast_schedule", "torch_distributed"]

log = logging.getLogger("stepsize")


def torch_distributed() -> Any:
    """torch.distributed when torch is already imported and a group of >1 is initialized."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    dist = getattr(torch, "distributed", None)
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return dist if dist.get_world_size() > 1 else None


def broadcast_schedule(
    pinning: Pinning,
    dist: Any,
    parsed: Ref,
    total_steps: int | None,
    steps_per_epoch: int | None,
) -> tuple[Identity, Curve]:
    """Pin `parsed` on rank 0 and share the identity and up-front values with every rank.

    A collective: every rank must call it. Raises on every rank what rank 0 raised
    (the same exception class, its message prefixed with the rank), so none hangs.
    """
    import torch

    rank = dist.get_rank()
    device = torch.device("cpu")
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    payload: dict[str, Any]
    values = None
    failure: Exception | None = None
    if rank == 0:
        try:
            identity, curve = pinning.pin(parsed, total_steps, steps_per_epoch)
            chunks = curve.upfront_chunks(pinning.upfront_limit)
            values = curve.prefix(chunks * curve.chunk_steps)
            payload = {
                "identity": identity.as_dict(),
                "chunks": chunks,
                "chunk_steps": curve.chunk_steps,
            }
        except Exception as exc:  # any failure must reach the other ranks, or they hang
            failure = exc
            payload = {
                "error": type(exc).__name__,
                "message": str(exc),
                "status": getattr(exc, "status", 0),
                "code": getattr(exc, "code", ""),
                "ref": getattr(exc, "ref", ""),
                "url": getattr(exc, "url", ""),
            }
    else:
        payload = {}
    box = [payload]
    dist.broadcast_object_list(box, src=0, device=device)
    payload = box[0]
    if failure is not None:
        raise failure
    if "error" in payload:
        raise _error(payload, rank)
    identity = Identity(**payload["identity"])
    chunk_steps = int(payload["chunk_steps"])
    n = int(payload["chunks"]) * chunk_steps
    tensor = torch.from_numpy(values) if values is not None else torch.empty(n, dtype=torch.float64)
    tensor = tensor.to(device)
    dist.broadcast(tensor, src=0)
    if rank == 0:
        return identity, curve
    if identity.horizon is None and identity.total_steps is None:
        log.warning(
            "stepsize: %s has no horizon and no total_steps was given: past step %d every "
            "rank fetches on its own; pass total_steps so that only rank 0 calls the server",
            identity.ref,
            n - 1,
        )
    received = tensor.cpu().numpy().astype(np.float64, copy=False)
    # Only past the broadcast range (an open-ended curve run beyond total_steps) does a
    # non-zero rank fetch for itself.
    shared = pinning.new_curve(identity, chunk_steps=chunk_steps)
    C = shared.chunk_steps
    if chunk_steps == C:
        shared.add_chunks({i: received[i * C : (i + 1) * C].copy() for i in range(n // C)})
    return identity, shared


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
