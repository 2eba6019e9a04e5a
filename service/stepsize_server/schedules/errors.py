"""The language's exception tree.

ScheduleError
 └── InvalidDefinition      a definition breaks a rule; `errors` lists {path, message}
      └── EvaluationError   a valid definition yields a non-finite or negative value at `step`,
                            or a step outside what can be evaluated
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
