"""The Hugging Face family (SPEC 3.3): `transformers.get_scheduler` semantics.

Every transformers schedule is a `LambdaLR`: the learning rate after `step` calls of
`scheduler.step()` is `base_lr * lr_lambda(step)`. Each type here states its `lr_lambda`
and computes it vectorized in float64 with the same operations, in the same order, as
transformers 5.23 does in Python floats, so values agree to the last bit or so.

Parameters are `get_scheduler`'s: `num_warmup_steps`, `num_training_steps` and the
keyword arguments it forwards (`scheduler_specific_kwargs`), plus `base_lr`, the
learning rate the optimizer was built with (`optimizer.defaults["lr"]`, which
transformers also uses as `lr_init` in `polynomial` and to turn `min_lr` into a ratio).
A parameter that `get_scheduler` would silently drop is not accepted at all: `hf.constant`
takes no `num_warmup_steps`/`num_training_steps`, and `hf.constant_with_warmup` and
`hf.inverse_sqrt` take no `num_training_steps`. Settings for which transformers raises,
or divides by zero while stepping, are rejected up front. Notation in the docstrings:
`s` = step, `w` = num_warmup_steps, `T` = num_training_steps, `warm(s) = s / max(1, w)`,
`p = (s - w) / max(1, T - w)`.
"""

from __future__ import annotations

from ..node import Node
from .cosine import Cosine, CosineWarmupWithMinLR, CosineWithMinLR, CosineWithRestarts
from .node import HFNode
from .schedules import (
    Constant,
    ConstantWithWarmup,
    InverseSqrt,
    Linear,
    Polynomial,
    WarmupStableDecay,
)

TYPES: tuple[type[Node], ...] = (
    Linear,
    Cosine,
    CosineWithRestarts,
    Polynomial,
    Constant,
    ConstantWithWarmup,
    InverseSqrt,
    CosineWithMinLR,
    CosineWarmupWithMinLR,
    WarmupStableDecay,
)

__all__ = [
    "TYPES",
    "Constant",
    "ConstantWithWarmup",
    "Cosine",
    "CosineWarmupWithMinLR",
    "CosineWithMinLR",
    "CosineWithRestarts",
    "HFNode",
    "InverseSqrt",
    "Linear",
    "Polynomial",
    "WarmupStableDecay",
]
