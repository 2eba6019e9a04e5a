"""Hugging Face `Trainer` with a registry schedule: `StepsizeTrainer(schedule="ns/name:tag")`.

The one-line change: `Trainer(...)` becomes `StepsizeTrainer(schedule="team/warm:prod", ...)`.
The Trainer learns the run's length (`num_training_steps`: optimizer updates, so
gradient accumulation divides the batches) only when training starts, in
`create_scheduler`; that is where the schedule is pinned and bound
(`client.schedule(schedule, total_steps=num_training_steps)`, which binds a run-length
template such as a "0.1dur" warmup) and its torch scheduler built
(`Schedule.torch_scheduler`). The Trainer steps it after each optimizer update and logs
`get_last_lr()[0]` before stepping, as with its own `LambdaLR` schedulers, so the logged
lr of update `k` (1-based `global_step`) is the registry's at step `k - 1`.

Resuming from a checkpoint (`scheduler.pt`, which the Trainer loads with
`weights_only=True`) restores the scheduler's counter and identity: the run continues on
the same curve. Importing this module imports transformers; `import stepsize` does not.
"""

from __future__ import annotations

from typing import Any

import torch
import transformers

from ..client import Client
from ..schedule import Schedule

__all__ = ["StepsizeTrainer"]


class StepsizeTrainer(transformers.Trainer):
    """A `transformers.Trainer` whose learning rate follows a registry schedule.

    Args:
        schedule: the reference, `ns/name`, `ns/name@3` or `ns/name:tag`.
        client: the `stepsize.Client` to use (default: one from the `STEPSIZE_*`
            environment variables).
        steps_per_epoch: for schedules written in epochs without their own.
        *args, **kwargs: those of `transformers.Trainer` (not `optimizers` with a
            scheduler: the schedule is the scheduler).

    After `create_scheduler` (called by `train()`), `stepsize_schedule` is the pinned
    `Schedule` (its `ref`, `digest`, `definition`, `template_digest`).

    Raises ValueError when `optimizers` already holds a scheduler; `create_scheduler`
    raises what `Client.schedule` raises (ValueError for a malformed reference,
    `ScheduleUnavailable`, `NotFound`, ...).
    """

    def __init__(
        self,
        *args: Any,
        schedule: str,
        client: Client | None = None,
        steps_per_epoch: int | None = None,
        **kwargs: Any,
    ) -> None:
        optimizers = kwargs.get("optimizers")
        if optimizers is not None and len(optimizers) > 1 and optimizers[1] is not None:
            raise ValueError(
                "StepsizeTrainer builds its scheduler from `schedule`; pass "
                "optimizers=(optimizer, None), not a scheduler"
            )
        self.stepsize_ref = schedule
        self.stepsize_client = client
        self.stepsize_steps_per_epoch = steps_per_epoch
        self.stepsize_schedule: Schedule | None = None
        super().__init__(*args, **kwargs)

    def create_scheduler(
        self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None
    ) -> torch.optim.lr_scheduler.LRScheduler:
        """Pin the schedule, bound to `num_training_steps` optimizer updates, and build
        its torch scheduler (once: `self.lr_scheduler` is kept if already set)."""
        if self.lr_scheduler is None:
            if optimizer is None:
                optimizer = self.optimizer
            client = self.stepsize_client if self.stepsize_client is not None else Client()
            self.stepsize_schedule = client.schedule(
                self.stepsize_ref,
                total_steps=num_training_steps,
                steps_per_epoch=self.stepsize_steps_per_epoch,
            )
            # transformers annotates the attribute as LambdaLR; it takes any LRScheduler
            self.lr_scheduler = self.stepsize_schedule.torch_scheduler(optimizer)  # type: ignore[assignment]
            self._created_lr_scheduler = True
        assert self.lr_scheduler is not None
        return self.lr_scheduler
