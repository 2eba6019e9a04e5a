"""Definitions of the schedulers `transformers.get_scheduler` returns (`hf.*` types).

Every one of them is a torch `LambdaLR` whose `lr_lambda` is a `functools.partial` of one
of `transformers.optimization`'s `_get_*_lr_lambda` functions (`get_constant_schedule`'s is
the bare `_get_constant_lambda`); the partial's keywords are `get_scheduler`'s parameters
once the optimizer's learning rate has been folded in. Nothing here imports transformers:
a scheduler is recognized by its function's module and name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = ["definition_from_hf", "is_hf_scheduler"]

_MODULE = "transformers.optimization"

# function name -> (type, the partial's keywords the type takes)
_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "_get_constant_lambda": ("hf.constant", ()),
    "_get_constant_schedule_with_warmup_lr_lambda": (
        "hf.constant_with_warmup",
        ("num_warmup_steps",),
    ),
    "_get_linear_schedule_with_warmup_lr_lambda": (
        "hf.linear",
        ("num_warmup_steps", "num_training_steps"),
    ),
    "_get_cosine_with_hard_restarts_schedule_with_warmup_lr_lambda": (
        "hf.cosine_with_restarts",
        ("num_warmup_steps", "num_training_steps", "num_cycles"),
    ),
    "_get_polynomial_decay_schedule_with_warmup_lr_lambda": (
        "hf.polynomial",
        ("num_warmup_steps", "num_training_steps", "lr_end", "power"),
    ),
    "_get_inverse_sqrt_schedule_lr_lambda": ("hf.inverse_sqrt", ("num_warmup_steps", "timescale")),
    "_get_cosine_with_min_lr_schedule_with_warmup_lr_rate_lambda": (
        "hf.cosine_warmup_with_min_lr",
        ("num_warmup_steps", "num_training_steps", "num_cycles", "min_lr_rate", "warmup_lr_rate"),
    ),
    "_get_wsd_scheduler_lambda": (
        "hf.warmup_stable_decay",
        (
            "num_warmup_steps",
            "num_stable_steps",
            "num_decay_steps",
            "warmup_type",
            "decay_type",
            "min_lr_ratio",
            "num_cycles",
        ),
    ),
}
# transformers defines `_get_cosine_schedule_with_warmup_lr_lambda` twice; the second
# (with `min_lr_rate`) replaces the first, so 'cosine' and 'cosine_with_min_lr' share it
# and differ by whether the partial passes `min_lr_rate`.
_COSINE = "_get_cosine_schedule_with_warmup_lr_lambda"


def _lr_lambda(scheduler: Any) -> Callable[..., Any] | None:
    """The scheduler's single `lr_lambda` (all groups share it), or None."""
    lambdas = getattr(scheduler, "lr_lambdas", None)
    if not isinstance(lambdas, list) or not lambdas:
        return None
    first = lambdas[0]
    return first if all(f is first for f in lambdas) else None


def _function(lr_lambda: Callable[..., Any]) -> tuple[str, dict[str, Any]] | None:
    """(name, keywords) of a transformers lr lambda, or None for any other callable."""
    fn, keywords = lr_lambda, {}
    if isinstance(lr_lambda, functools.partial):
        if lr_lambda.args:
            return None
        fn, keywords = lr_lambda.func, dict(lr_lambda.keywords)
    if getattr(fn, "__module__", None) != _MODULE:
        return None
    name = getattr(fn, "__name__", "")
    return (name, keywords) if name in _TYPES or name == _COSINE else None


def is_hf_scheduler(scheduler: Any) -> bool:
    """Whether `scheduler` is a `LambdaLR` built by `transformers.get_scheduler` (or its
    `get_*_schedule*` functions). Never raises."""
    lr_lambda = _lr_lambda(scheduler)
    return lr_lambda is not None and _function(lr_lambda) is not None


def definition_from_hf(scheduler: Any) -> dict[str, Any]:
    """The `hf.*` definition of a scheduler `transformers.get_scheduler` returned, with
    `base_lr` the optimizer's initial lr (its first group's, `scheduler.base_lrs[0]`).

    Raises TypeError for anything else (a `LambdaLR` of another function, one lambda per
    group, a partial with positional arguments)."""
    lr_lambda = _lr_lambda(scheduler)
    found = _function(lr_lambda) if lr_lambda is not None else None
    if found is None:
        raise TypeError(
            "only the LambdaLR schedulers of transformers.get_scheduler can be published "
            f"this way. Received: {type(scheduler).__name__}"
        )
    name, keywords = found
    base_lr = float(scheduler.base_lrs[0])
    if name == _COSINE:
        kind = "hf.cosine_with_min_lr" if "min_lr_rate" in keywords else "hf.cosine"
        taken: tuple[str, ...] = ("num_warmup_steps", "num_training_steps", "num_cycles")
        taken += ("min_lr_rate",) if "min_lr_rate" in keywords else ()
    else:
        kind, taken = _TYPES[name]
    if name == "_get_polynomial_decay_schedule_with_warmup_lr_lambda":
        # transformers divides by the optimizer's default lr (`lr_init`) and LambdaLR
        # multiplies by the group's: scaling lr_end by their ratio gives the same values
        keywords["lr_end"] = keywords["lr_end"] * base_lr / keywords["lr_init"]
    definition: dict[str, Any] = {"type": kind, "base_lr": base_lr}
    for key in taken:
        value = keywords.get(key)
        if value is not None:
            definition[key] = value
    return definition
