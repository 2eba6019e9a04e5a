"""One vocabulary of parameter types, shared by every family.

Each type checks its rule after pydantic has parsed the value, and words a failure as
Keras does: ``Argument `decay_steps` must be > 0. Received: decay_steps=0``. The same
mistake thus reads the same in every family; the JSON Schema (/v1/types, openapi.yaml)
carries the same bound. Fields add their own `description` with `Field(description=...)`.

Step counts are typed by `StepCount`, the one place where what a step parameter accepts
is decided (a later form such as "<n>ep" would be parsed there, before the checks).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from .node import MAX_STEP


def must_be(rule: str, ok: Callable[[Any], bool]) -> AfterValidator:
    """A field validator raising ``Argument `x` must be <rule>. Received: x=<value>``
    (Keras's wording) when `ok(value)` is false."""

    def check(v: Any, info: ValidationInfo) -> Any:
        _require(ok(v), rule, v, info)
        return v

    return AfterValidator(check)


def _require(ok: bool, rule: str, v: Any, info: ValidationInfo) -> None:
    if not ok:
        # A field named `values_` (a node has a `values` method) is `values` in JSON.
        name = (info.field_name or "").removesuffix("_")
        raise ValueError(f"Argument `{name}` must be {rule}. Received: {name}={v}")


def _shown(v: Any) -> str:
    """A received value as JSON writes it (`true`, `"0.1"`), else its repr."""
    try:
        return json.dumps(v)
    except (TypeError, ValueError):
        return repr(v)


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") and not isinstance(v, int | float | str) else v


def strict_real(v: Any, info: ValidationInfo) -> float | int:
    """A JSON number, as given: a boolean or a numeric string is not a number (strict
    input: `true` is not 1, `"0.1"` is not 0.1). Raises ValueError in Keras's wording."""
    v = _plain(v)
    if isinstance(v, bool) or not isinstance(v, int | float):
        name = (info.field_name or "").removesuffix("_")
        raise ValueError(f"Argument `{name}` must be a number. Received: {name}={_shown(v)}")
    return v


def strict_int(v: Any, info: ValidationInfo) -> int:
    """An integer; an integral float (`18750.0`, what `60000 / 32 * 10` gives) is that
    integer, a fractional one, a boolean or a string is refused (ValueError, Keras's
    wording)."""
    v = _plain(v)
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        name = (info.field_name or "").removesuffix("_")
        raise ValueError(f"Argument `{name}` must be an integer. Received: {name}={_shown(v)}")
    return v


def strict_bool(v: Any, info: ValidationInfo) -> bool:
    """A JSON boolean: 1, 0 and "true" are refused (ValueError, Keras's wording)."""
    if not isinstance(v, bool):
        name = info.field_name or ""
        raise ValueError(
            f"Argument `{name}` must be a boolean (true or false). Received: {name}={_shown(v)}"
        )
    return v


Flag = Annotated[bool, BeforeValidator(strict_bool)]
"""A JSON boolean (numbers and strings refused)."""


def strict_steps(v: Any, info: ValidationInfo) -> int:
    """`strict_int`, naming the run-length forms a step count also accepts (a template's
    "<x>dur"/"<n>ep" are bound before validation; any other string is refused here)."""
    if isinstance(v, str):
        name = info.field_name or ""
        raise ValueError(
            f'Argument `{name}` must be an integer, "<x>dur" (0 < x <= 1) or "<n>ep". '
            f"Received: {name}={_shown(v)}"
        )
    return strict_int(v, info)


Real = Annotated[float, BeforeValidator(strict_real)]
"""A JSON number (booleans and strings refused)."""
Integer = Annotated[int, BeforeValidator(strict_int)]
"""A JSON integer (an integral float normalized to it; booleans and strings refused)."""


def _schema(**bounds: float) -> Any:
    """The JSON Schema bounds of a type whose rule `must_be` checks."""
    return Field(json_schema_extra=dict(bounds))


NonNegReal = Annotated[Real, must_be(">= 0", lambda v: v >= 0), _schema(minimum=0)]
"""A learning rate or other non-negative finite real (inf and nan are refused by Node)."""
Rate = NonNegReal
PositiveReal = Annotated[Real, must_be("> 0", lambda v: v > 0), _schema(exclusiveMinimum=0)]
AtLeastOne = Annotated[Real, must_be(">= 1", lambda v: v >= 1), _schema(minimum=1)]
"""A growth factor that never shrinks (a period multiplier)."""
Probability = Annotated[
    Real, must_be("between 0 and 1", lambda v: 0 <= v <= 1), _schema(minimum=0, maximum=1)
]
"""A fraction in [0, 1]."""
PositiveFraction = Annotated[
    Real,
    must_be("in (0, 1]", lambda v: 0 < v <= 1),
    _schema(exclusiveMinimum=0, maximum=1),
]
"""A fraction in (0, 1]."""
PositiveInt = Annotated[Integer, must_be("> 0", lambda v: v > 0), _schema(exclusiveMinimum=0)]
NonNegInt = Annotated[Integer, must_be(">= 0", lambda v: v >= 0), _schema(minimum=0)]


@dataclass(frozen=True)
class StepCount:
    """The type of a parameter counting steps (or epochs): an integer >= `minimum` and
    <= `maximum` (2**53 by default, the largest valid step: a count beyond it could never
    be reached, and numpy's step arithmetic would overflow on it).

    Used as `Annotated[int, StepCount(minimum=1)]`. In a template such a parameter may
    also be "<x>dur" or "<n>ep" (`templates`: found by this type, bound before parsing)."""

    minimum: int
    maximum: int | None = MAX_STEP

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        checked = core_schema.with_info_after_validator_function(self._check, handler(source))
        return core_schema.with_info_before_validator_function(strict_steps, checked)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out.update(self._bounds())
        return out

    def _bounds(self) -> dict[str, int]:
        bounds = {"exclusiveMinimum": 0} if self.minimum == 1 else {"minimum": self.minimum}
        if self.maximum is not None:
            bounds["maximum"] = self.maximum
        return bounds

    def _check(self, v: int, info: ValidationInfo) -> int:
        rule = "> 0" if self.minimum == 1 else f">= {self.minimum}"
        _require(v >= self.minimum, rule, v, info)
        if self.maximum is not None:
            limit = self.maximum
            shown = f"2**53 ({limit})" if limit == MAX_STEP else str(limit)
            _require(v <= limit, f"<= {shown}", v, info)
        return v


Steps = Annotated[int, StepCount(minimum=1)]
"""A positive step count (a duration a schedule divides by)."""
NonNegSteps = Annotated[int, StepCount(minimum=0)]
"""A step count that may be 0 (a warmup that can be absent, a boundary)."""


def strictly_increasing(values: list[int], name: str) -> list[int]:
    """`values` if each item is above the one before; else raises ValueError naming the
    first pair out of order."""
    for i in range(1, len(values)):
        if values[i] <= values[i - 1]:
            raise ValueError(
                f"Argument `{name}` must be strictly increasing. Received: {name}[{i - 1}]="
                f"{values[i - 1]}, {name}[{i}]={values[i]}"
            )
    return values
