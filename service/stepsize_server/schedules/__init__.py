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

from .cost import (
    DEFAULT_BUDGET,
    Deadline,
    check_cost,
    deadline_after,
    estimate_cost,
    fixed_cost,
    per_step_cost,
)
from .errors import (
    CostTooLarge,
    ErrorItem,
    EvaluationError,
    EvaluationTimeout,
    InvalidDefinition,
    InvalidStep,
    ScheduleError,
    StepOutOfRange,
    UnboundTemplate,
)
from .evaluation import (
    Compiled,
    canonical_json,
    check_template,
    compile_definition,
    digest,
    evaluate,
    horizon,
    normalize,
    normalize_template,
)
from .node import MAX_STEP, Context, Node
from .registry import TYPE_NAMES, TYPES, Schedule
from .steps import check_steps
from .templates import PLAUSIBLE_TOTALS, Duration, bind, durations, is_template
from .validation import parse

__all__ = [
    "DEFAULT_BUDGET",
    "MAX_STEP",
    "PLAUSIBLE_TOTALS",
    "TYPES",
    "TYPE_NAMES",
    "Compiled",
    "Context",
    "CostTooLarge",
    "Deadline",
    "Duration",
    "ErrorItem",
    "EvaluationError",
    "EvaluationTimeout",
    "InvalidDefinition",
    "InvalidStep",
    "Node",
    "Schedule",
    "ScheduleError",
    "StepOutOfRange",
    "UnboundTemplate",
    "bind",
    "canonical_json",
    "check_cost",
    "check_steps",
    "check_template",
    "compile_definition",
    "deadline_after",
    "digest",
    "durations",
    "estimate_cost",
    "evaluate",
    "fixed_cost",
    "horizon",
    "is_template",
    "normalize",
    "normalize_template",
    "parse",
    "per_step_cost",
]
