"""The PyTorch family (SPEC 3.2): torch.optim.lr_scheduler, value for value.

Each type takes the torch constructor's parameters and defaults (minus `optimizer`,
`last_epoch`, `verbose` and the momentum options) plus `base_lr`, the learning rate the
optimizer was built with. `lr(N)` is `scheduler.get_last_lr()[0]` after N calls of
`scheduler.step()`, stepped one by one as torch does (torch 2.13), within 1e-9 relative.

How it is computed. torch's chainable schedulers update the optimizer's *current* lr,
so every `step()` is an affine map of it: `lr_N = A_N * lr_(N-1) + B_N`. Standalone,
each type has a closed form that follows torch's recursion (not the textbook formula:
e.g. CosineAnnealingLR restarts from `eta_min` at each trough, ConstantLR with
`total_iters=0` stays at `factor`). The composites reproduce what torch's constructors
do to the shared param group (each child steps once when built; SequentialLR resets the
lr and restarts a child from its closed form at its milestone) and combine the children
in closed form where one exists; otherwise they step torch's recurrence, vectorized, up
to `STEP_LIMIT` steps (see `recurrence`).

Conventions:

- torch counts integer steps: a fractional local step (under a `fractional` `epochs`
  wrapper) is floored.
- Past the point where torch raises (OneCycleLR beyond `total_steps`), the value holds at
  the last valid step; in a composite the child holds and the others go on.
- Where torch accepts a parameter and only fails later (`T_max=0`, `step_size=0`: division
  by zero at the first step), the definition is rejected up front.
- Composites nest as torch runs them: a ChainedScheduler inside a ChainedScheduler, or as
  the scheduler a SequentialLR starts with; the other nestings, which fail or misbehave
  in torch, are rejected with the reason.
- Children of SequentialLR/ChainedScheduler are built in list order, as
  `SequentialLR(opt, [A(opt, ...), B(opt, ...)], ...)` does; this matters only for
  CyclicLR and OneCycleLR, whose constructors overwrite the group's lr or `initial_lr`.

Modules: `node` (the protocol every type implements, its base classes, shared helpers),
`lambdas` (LambdaLR, MultiplicativeLR), `decay` (the multiplicative decays), `cosine`
(CosineAnnealingLR, CosineAnnealingWarmRestarts), `cyclic` (CyclicLR, OneCycleLR),
`composite` (SequentialLR), `chained` (ChainedScheduler) and `recurrence` (stepping what
has no closed form). This one gathers the types.
"""

from __future__ import annotations

from ..node import Node
from .chained import ChainedScheduler
from .composite import SequentialLR
from .cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from .cyclic import CyclicLR, OneCycleLR
from .decay import (
    ConstantLR,
    ExponentialLR,
    LinearLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from .lambdas import LambdaLR, MultiplicativeLR
from .node import TorchComposite, TorchNode

__all__ = [
    "TYPES",
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "PolynomialLR",
    "SequentialLR",
    "StepLR",
    "TorchComposite",
    "TorchNode",
]

TYPES: tuple[type[Node], ...] = (
    LambdaLR,
    MultiplicativeLR,
    StepLR,
    MultiStepLR,
    ConstantLR,
    LinearLR,
    ExponentialLR,
    PolynomialLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    OneCycleLR,
    SequentialLR,
    ChainedScheduler,
)
