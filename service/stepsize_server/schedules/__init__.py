"""The schedule language: definitions, validation, digests and the vectorized evaluator.

Pure: no I/O, no clock, no globals beyond caches. Entry points:

- `normalize(definition) -> dict`: validated, defaults filled in, keys sorted.
- `digest(definition) -> "sha256:<hex>"`: of the canonical JSON of the normalized form.
- `evaluate(definition, steps, steps_per_epoch=None) -> np.ndarray` (float64).
- `horizon(definition) -> int | None`: the step after which the value is constant.
- `compile_definition(definition) -> Compiled`: all of the above at once, for reuse.

Every invalid definition raises `InvalidDefinition`, whose `errors` list `{path, message}`
with JSON pointers.
"""

from .base import MAX_STEP, Context, Node
from .errors import (
    ErrorItem,
    EvaluationError,
    InvalidDefinition,
    InvalidStep,
    ScheduleError,
    StepOutOfRange,
)
from .language import (
    TYPE_NAMES,
    TYPES,
    Compiled,
    Schedule,
    canonical_json,
    check_steps,
    compile_definition,
    digest,
    evaluate,
    horizon,
    normalize,
    parse,
)

__all__ = [
    "MAX_STEP",
    "TYPES",
    "TYPE_NAMES",
    "Compiled",
    "Context",
    "ErrorItem",
    "EvaluationError",
    "InvalidDefinition",
    "InvalidStep",
    "Node",
    "Schedule",
    "ScheduleError",
    "StepOutOfRange",
    "canonical_json",
    "check_steps",
    "compile_definition",
    "digest",
    "evaluate",
    "horizon",
    "normalize",
    "parse",
]
