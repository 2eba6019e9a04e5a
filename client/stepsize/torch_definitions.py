"""`definition_from_torch`: the definition of a torch scheduler instance, to publish it.

Reads the constructor's parameters as SPEC 3.2 names them; imports torch when called.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["definition_from_torch"]


# publish(torch scheduler): the constructor's parameters, as SPEC 3.2 names them

_SIMPLE: dict[str, tuple[str, ...]] = {
    "StepLR": ("step_size", "gamma"),
    "ConstantLR": ("factor", "total_iters"),
    "LinearLR": ("start_factor", "end_factor", "total_iters"),
    "ExponentialLR": ("gamma",),
    "PolynomialLR": ("total_iters", "power"),
    "CosineAnnealingLR": ("T_max", "eta_min"),
    "CosineAnnealingWarmRestarts": ("T_0", "T_mult", "eta_min"),
}


def definition_from_torch(scheduler: Any, *, with_base_lr: bool = True) -> dict[str, Any]:
    """The definition of a torch scheduler instance (`torch.<ClassName>` types).

    Supported: StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR, PolynomialLR,
    CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR (built-in modes),
    OneCycleLR, SequentialLR and ChainedScheduler of those. Raises TypeError for others
    (LambdaLR and MultiplicativeLR hold Python functions, which cannot be published).
    """
    import torch

    sched = torch.optim.lr_scheduler
    cls = type(scheduler).__name__
    out: dict[str, Any] = {"type": f"torch.{cls}"}
    if cls in _SIMPLE and isinstance(scheduler, getattr(sched, cls)):
        for name in _SIMPLE[cls]:
            out[name] = getattr(scheduler, name)
    elif isinstance(scheduler, sched.MultiStepLR):
        milestones = scheduler.milestones
        out["milestones"] = sorted(Counter(milestones).elements())
        out["gamma"] = scheduler.gamma
    elif isinstance(scheduler, sched.CyclicLR):
        if scheduler._scale_fn_custom is not None:
            raise TypeError("CyclicLR with a custom scale_fn cannot be published; use mode=")
        up = round(scheduler.total_size * scheduler.step_ratio)
        out.update(
            base_lr=scheduler.base_lrs[0],
            max_lr=scheduler.max_lrs[0],
            step_size_up=up,
            step_size_down=round(scheduler.total_size) - up,
            mode=scheduler.mode,
            gamma=scheduler.gamma,
        )
        return out
    elif isinstance(scheduler, sched.OneCycleLR):
        group = scheduler.optimizer.param_groups[0]
        phases = scheduler._schedule_phases
        total = scheduler.total_steps
        out.update(
            max_lr=group["max_lr"],
            total_steps=total,
            pct_start=(phases[0]["end_step"] + 1) / total,
            anneal_strategy=getattr(scheduler, "_anneal_func_type", "cos"),
            div_factor=group["max_lr"] / group["initial_lr"],
            final_div_factor=group["initial_lr"] / group["min_lr"],
            three_phase=len(phases) == 3,
        )
        return out
    elif isinstance(scheduler, sched.SequentialLR):
        out["schedulers"] = [
            definition_from_torch(s, with_base_lr=False) for s in scheduler._schedulers
        ]
        out["milestones"] = list(scheduler._milestones)
    elif isinstance(scheduler, sched.ChainedScheduler):
        out["schedulers"] = [
            definition_from_torch(s, with_base_lr=False) for s in scheduler._schedulers
        ]
    else:
        raise TypeError(
            f"cannot publish a {cls}: supported are "
            f"{', '.join(sorted([*_SIMPLE, 'MultiStepLR']))}, "
            "CyclicLR, OneCycleLR, SequentialLR and ChainedScheduler"
        )
    if with_base_lr:
        group = scheduler.optimizer.param_groups[0]
        out["base_lr"] = float(group.get("initial_lr", group["lr"]))
    return out
