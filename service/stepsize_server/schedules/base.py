"""The node protocol every schedule type implements.

A node is an immutable pydantic model. `values(t, ctx)` maps a float64 array of local steps
(non-negative; integral except under a fractional `epochs` wrapper) to a float64 array of
learning rates, vectorized, with no per-step Python loop. `horizon(ctx)` is the first local
step from which the value never changes again, or None when it keeps changing forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo

# The largest step a query may ask for (SPEC 2): every integer up to it is exact in float64.
MAX_STEP = 2**53


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

    # JSON pointer of this node inside the whole definition; set by the parser, used to
    # name the node in errors raised while evaluating.
    _path: str = PrivateAttr("")

    def values(self, t: np.ndarray, ctx: Context) -> np.ndarray:
        raise NotImplementedError

    def horizon(self, ctx: Context) -> int | None:
        raise NotImplementedError

    def children(self) -> list[tuple[str, Node]]:
        """(JSON pointer relative to this node, child) for every child definition."""
        return []


def must_be(rule: str, ok: Callable[[Any], bool]) -> AfterValidator:
    """A field validator raising ``Argument `x` must be <rule>. Received: x=<value>``
    (Keras's wording) when `ok(value)` is false."""

    def check(v: Any, info: ValidationInfo) -> Any:
        if not ok(v):
            name = info.field_name
            raise ValueError(f"Argument `{name}` must be {rule}. Received: {name}={v}")
        return v

    return AfterValidator(check)


# Parameter types shared by the families.
Rate = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""A learning rate or other non-negative finite real."""
Real = Annotated[float, Field(allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
PositiveReal = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def max_horizon(*hs: int | None) -> int | None:
    """Horizon of a node that is constant once all of its parts are."""
    if any(h is None for h in hs):
        return None
    return max((h for h in hs if h is not None), default=0)


def as_steps(t: np.ndarray) -> np.ndarray:
    """Float64 view of local steps (callers pass float64 already; this is the one cast)."""
    return np.asarray(t, dtype=np.float64)
