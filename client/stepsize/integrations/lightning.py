"""Lightning with a registry schedule: the scheduler dict `configure_optimizers` returns.

The one-line change, in `configure_optimizers`:

    return {"optimizer": opt,
            "lr_scheduler": lr_scheduler_config(opt, "team/warm:prod", trainer=self.trainer)}

The dict has `interval="step"`: Lightning's default of "epoch" would silently turn a
per-step curve into a per-epoch one. Lightning steps the scheduler once per optimizer
update (not while accumulating gradients), so the schedule's step `k` is the `k`-th
update; the run's length, which binds a run-length template ("0.1dur"), is
`trainer.estimated_stepping_batches` (accumulation and devices included) unless
`total_steps` is given. Resuming from a checkpoint restores the scheduler's counter and
identity (`lr_schedulers` in the checkpoint, primitives only). Lightning itself is not
imported here.
"""

from __future__ import annotations

import math
from typing import Any

from ..client import Client
from ..schedule import Schedule

__all__ = ["lr_scheduler_config"]


def lr_scheduler_config(
    optimizer: Any,
    schedule: str | Schedule,
    *,
    trainer: Any = None,
    total_steps: int | None = None,
    client: Client | None = None,
) -> dict[str, Any]:
    """Lightning's scheduler dict (`{"scheduler", "interval": "step", "frequency": 1}`)
    for a registry schedule.

    Args:
        optimizer: the torch optimizer `configure_optimizers` returns with it.
        schedule: a reference (`ns/name`, `ns/name@3`, `ns/name:tag`), pinned here, or a
            `Schedule` already pinned (then `trainer`, `total_steps` and `client` are
            not used).
        trainer: the Lightning `Trainer` (`self.trainer`): the run's length is its
            `estimated_stepping_batches`.
        total_steps: the run's optimizer updates, instead of asking `trainer`.
        client: the `stepsize.Client` (default: one from the `STEPSIZE_*` environment).

    Raises ValueError when neither `total_steps` nor `trainer` is given, when the
    trainer's estimate is infinite (`max_steps=-1` with endless data: give
    `total_steps`), and what `Client.schedule` raises.
    """
    if isinstance(schedule, Schedule):
        pinned = schedule
    else:
        total = total_steps if total_steps is not None else run_length(trainer)
        pinned = (client if client is not None else Client()).schedule(schedule, total_steps=total)
    return {"scheduler": pinned.torch_scheduler(optimizer), "interval": "step", "frequency": 1}


def run_length(trainer: Any) -> int:
    """`trainer.estimated_stepping_batches` as an int. Raises ValueError without a
    trainer, or when the estimate is infinite or not a positive number."""
    if trainer is None:
        raise ValueError(
            "lr_scheduler_config needs the run's length: pass trainer=self.trainer (its "
            "estimated_stepping_batches) or total_steps=N (optimizer updates)"
        )
    estimate = trainer.estimated_stepping_batches
    if not isinstance(estimate, int | float) or not math.isfinite(estimate) or estimate < 1:
        raise ValueError(
            f"the trainer estimates {estimate!r} optimizer steps (endless data with "
            "max_steps=-1?); pass total_steps=N to lr_scheduler_config"
        )
    return int(estimate)
