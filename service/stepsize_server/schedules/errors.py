"""The language's exception tree.

ScheduleError
 └── InvalidDefinition      a definition breaks a rule; `errors` lists {path, message}
      ├── CostTooLarge      the estimated cost of a request is over its budget
      ├── UnboundTemplate   a template evaluated without `total_steps`
      └── EvaluationError   a valid definition yields a non-finite or negative value at `step`,
                            or a step outside what can be evaluated
 └── EvaluationTimeout      the caller's deadline passed during an evaluation
"""

from __future__ import annotations

from typing import TypedDict


class ErrorItem(TypedDict):
    """One broken rule: `path` is a JSON pointer into the definition ("" is the root)."""

    path: str
    message: str


class ScheduleError(Exception):
    """Base of every error raised by `stepsize_server.schedules`."""


class InvalidDefinition(ScheduleError, ValueError):
    """A definition is invalid; `errors` holds one `{path, message}` per broken rule."""

    code = "invalid_definition"

    def __init__(self, errors: list[ErrorItem]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(_describe(e) for e in self.errors) or "invalid definition")

    @classmethod
    def at(cls, path: str, message: str) -> InvalidDefinition:
        return cls([{"path": path, "message": message}])


class EvaluationError(InvalidDefinition):
    """The schedule cannot give a valid value at `step` (non-finite, negative, out of range)."""

    code = "evaluation_error"

    def __init__(self, step: int | float, message: str, path: str = "") -> None:
        self.step = step
        super().__init__([{"path": path, "message": message}])


def _describe(item: ErrorItem) -> str:
    return f"{item['path'] or '/'}: {item['message']}"


def pointer(*parts: str | int) -> str:
    """JSON pointer (RFC 6901) for the given path parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class InvalidStep(ScheduleError, ValueError):
    """A requested step is not an integer in [0, 2**53]; the message names the value."""

    code = "invalid_step"

    def __init__(self, value: object, message: str) -> None:
        self.value = value
        super().__init__(f"{message}. Received: {value!r}")


class StepOutOfRange(EvaluationError):
    """A cumulative schedule can only be evaluated up to step `limit`."""

    code = "step_out_of_range"

    def __init__(self, step: int | float, limit: int, message: str, path: str = "") -> None:
        self.limit = limit
        super().__init__(step, message, path)


class CostTooLarge(InvalidDefinition):
    """A request's estimated cost (`cost.estimate_cost`) is over the budget.

    `cost` and `budget` are in cost units (1 unit ~ 1 ns of one CPU core); `per_step` is
    what each requested step costs, `fixed` what does not shrink with fewer steps (a
    cumulative recurrence stepped up to the largest step), `max_steps` the most steps one
    request of this definition may ask for (0 if even one step is over the budget)."""

    code = "cost_too_large"

    def __init__(
        self, *, cost: int, budget: int, per_step: int, fixed: int, max_steps: int, what: str
    ) -> None:
        self.cost, self.budget, self.per_step = cost, budget, per_step
        self.fixed, self.max_steps = fixed, max_steps
        if max_steps > 0:
            split = (
                f"ask for at most {max_steps:,} steps per request (split the range into "
                "several requests), or simplify the definition"
            )
        else:
            split = (
                "even one step is over it: simplify the definition (fewer or shorter "
                "expressions, fewer nodes) or ask for an earlier step"
            )
        super().__init__(
            [
                {
                    "path": "",
                    "message": f"{what} would cost about {cost:,} units (1 unit is about 1 ns "
                    f"of CPU; {per_step:,} per step), over the budget of {budget:,}: {split}",
                }
            ]
        )


class UnboundTemplate(InvalidDefinition):
    """A run-length template (durations such as "0.1dur") was used where an ordinary
    definition is needed: bind it with `total_steps` first. `errors` point at each
    duration."""

    code = "unbound_template"


class EvaluationTimeout(ScheduleError):
    """The caller's deadline passed while evaluating; nothing was returned. `done` steps
    of `total` had been evaluated."""

    code = "evaluation_timeout"

    def __init__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        super().__init__(
            f"the evaluation stopped at its deadline after {done:,} of {total:,} steps"
        )
