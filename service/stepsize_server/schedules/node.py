"""The node protocol every schedule type implements.

A node is an immutable pydantic model. `values(t, ctx)` maps a float64 array of local steps
(non-negative; integral except under a fractional `epochs` wrapper) to a float64 array of
learning rates, vectorized, with no per-step Python loop. `horizon(ctx)` is the first local
step from which the value never changes again, or None when it keeps changing forever.

Two hooks let a family add rules that depend on where a node sits in a tree, without the
generic modules knowing the family: `placement_errors` (checked once the whole tree is
parsed) and `tidy_dump` (adjusts the normalized JSON of the node's children).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, PrivateAttr

from .errors import ErrorItem

# The largest step a query may ask for (SPEC 2): every integer up to it is exact in float64.
MAX_STEP = 2**53

# Cost units (`cost.py`: 1 unit ~ 1 ns of one CPU core here) per evaluated step of a node
# alone, children excluded: what the plain curves and wrappers measure at most.
NODE_COST = 20


@dataclass(frozen=True)
class Context:
    """What evaluation needs beyond the definition itself."""

    steps_per_epoch: int | None = None


class Node(BaseModel):
    """Base class of every schedule type."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )

    # One line for the catalog (/v1/types) and an example definition.
    summary: ClassVar[str] = ""
    example: ClassVar[dict[str, Any]] = {}

    # The layout of a template's parts in the run (`templates.fit_errors`): children
    # (field name) that start after a step-count field (a list field: child i starts at
    # item i-1), and step-count fields laid end to end inside the node.
    child_offsets: ClassVar[dict[str, str]] = {}
    consecutive_steps: ClassVar[tuple[str, ...]] = ()

    # JSON pointer of this node inside the whole definition; set by the parser, used to
    # name the node in errors raised while evaluating.
    _path: str = PrivateAttr("")

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        """The learning rates at local steps `t` (float64, shaped like `t`)."""
        raise NotImplementedError

    def horizon(self, ctx: Context) -> int | None:
        """The first local step from which the value is constant, or None."""
        raise NotImplementedError

    def children(self) -> list[tuple[str, Node]]:
        """(JSON pointer relative to this node, child) for every child definition."""
        return []

    def step_cost(self) -> int:
        """Cost units per evaluated step of this node alone (children excluded); a node
        evaluating an expression adds the expression's cost."""
        return NODE_COST

    def stepped_steps(self, max_step: int) -> int:
        """How many steps of a recurrence evaluating this node up to `max_step` walks
        (work that grows with the largest step queried, not with the number of steps:
        a cumulative torch scheduler stepped from 0); none by default."""
        return 0

    def placement_errors(self, path: str, parent: Node | None) -> list[ErrorItem]:
        """Rules that depend on the node's `parent` (None at the root); `path` is the
        node's JSON pointer. No rule by default."""
        return []

    def tidy_dump(self, data: dict[str, Any]) -> None:
        """Adjust `data`, this node's normalized JSON, in place (children included)
        before keys are sorted. Nothing by default."""


def max_horizon(*hs: int | None) -> int | None:
    """Horizon of a node that is constant once all of its parts are."""
    if any(h is None for h in hs):
        return None
    return max((h for h in hs if h is not None), default=0)


def as_steps(t: np.ndarray) -> np.ndarray:
    """Float64 view of local steps (callers pass float64 already; this is the one cast)."""
    return np.asarray(t, dtype=np.float64)
