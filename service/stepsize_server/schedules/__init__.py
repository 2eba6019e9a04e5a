"""The schedule language: definitions, validation, digests and the vectorized evaluator.

Pure: no I/O, no clock, no globals beyond caches. Entry points:

- `normalize(definition) -> dict`: validated, defaults filled in, keys sorted.
- `digest(definition) -> "sha256:<hex>"`: of the canonical JSON of the normalized form.
- `evaluate(definition, steps, steps_per_epoch=None) -> np.ndarray` (float64).
- `horizon(definition) -> int | None`: the step after which the value is constant.
- `compile_definition(definition) -> Compiled`: all of the above at once, for reuse.

Every invalid definition raises `InvalidDefinition`, whose `errors` list `{path, message}`
with JSON pointers.

Layout: the shared machinery at the top (`node`, `params`, `steps`, `validation`,
`evaluation`, `lint`, `registry`, `errors`); one package per family (`core`, `keras`,
`torch`, `hf`) and the expression language (`expressions`).
"""

from .errors import (
    ErrorItem,
    EvaluationError,
    InvalidDefinition,
    InvalidStep,
    ScheduleError,
    StepOutOfRange,
)
from .evaluation import (
    Compiled,
    canonical_json,
    compile_definition,
    digest,
    evaluate,
    horizon,
    normalize,
)
from .node import MAX_STEP, Context, Node
from .registry import TYPE_NAMES, TYPES, Schedule
from .steps import check_steps
from .validation import parse

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
