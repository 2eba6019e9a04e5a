"""Path and query parameters, each with its bounds and meaning declared once.

A `Param` is used three ways from the same declaration: as FastAPI's `Path`/`Query` in the
`Annotated` aliases the routes take (FastAPI validates them: a bad value is a 422 problem
naming it), as a pydantic `Field` of the hot-path query model `LrQuery` (validated in one
step by `fastparams.parse`), and as the bounds of a step range given in a JSON body."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ..schedules import MAX_STEP
from .errors import ApiError
from .names import NAME_HELP, NAME_PATTERN

MAX_VERSION = 2**31 - 1
MAX_TOKEN_ID = 2**62
MAX_PAGE = 500
# An integer in a URL is ASCII decimal digits (an integral `18750.0`, what a script's
# `60000 / 32 * 10` prints, included); Python's `int()` would also take `1_000`, `+1`,
# ` 1` and other scripts' digits, which no client means as a number.
_DECIMAL = re.compile(r"-?[0-9]{1,30}(?:\.0{1,30})?")


def url_integer(value: Any) -> Any:
    """A query or path integer: ASCII digits only. Raises ValueError (a 422 naming the
    value) for anything else."""
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            raise ValueError("must be an integer written in decimal digits (such as 1000)")
        return int(value.partition(".")[0])
    return json_integer(value)


def json_integer(value: Any) -> Any:
    """A JSON body's integer: a number with no fractional part (`18750.0` included); a
    boolean or a string is no number. Raises ValueError (a 422 naming the value)."""
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    if isinstance(value, str):
        raise ValueError("must be a JSON number, not a string")
    if isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise ValueError("must be an integer")
        return int(value)
    return value


# The parsers as metadata of an integer type. The bounds come before them in
# `Annotated[int, P.bounds(), URL_INTEGER]`: after a validator function pydantic could not
# document them (`ge`/`le` instead of `minimum`/`maximum`).
URL_INTEGER = BeforeValidator(url_integer)
JSON_INTEGER = BeforeValidator(json_integer)


@dataclass(frozen=True)
class Param:
    """One parameter's meaning and bounds (`ge`/`le` for integers, `pattern` and
    `max_length` for strings)."""

    description: str | None = None
    ge: int | None = None
    le: int | None = None
    pattern: str | None = None
    max_length: int | None = None

    def path(self) -> Any:
        """FastAPI's `Path(...)` with these bounds (an integer's are in `bounds()`)."""
        return Path(**self._constraints())

    def query(self) -> Any:
        """FastAPI's `Query(...)` with these bounds (an integer's are in `bounds()`)."""
        return Query(**self._constraints())

    def field(self) -> Any:
        """A pydantic `Field` with these bounds, defaulting to None (an integer's are in
        `bounds()`)."""
        return Field(None, **self._constraints())

    def bounds(self) -> Any:
        """The integer bounds `ge`..`le`, as metadata of the integer type itself
        (`Annotated[int, P.bounds(), URL_INTEGER]`)."""
        return Field(ge=self.ge, le=self.le)

    def _constraints(self) -> dict[str, Any]:
        # The integer bounds go with the type (`bounds`): on an optional parameter,
        # pydantic could not apply them to the union and would document them as the
        # unknown keywords `ge`/`le` instead of `minimum`/`maximum`.
        given = {
            "description": self.description,
            "pattern": self.pattern,
            "max_length": self.max_length,
        }
        return {key: value for key, value in given.items() if value is not None}


NAMESPACE = Param("the team: " + NAME_HELP, pattern=NAME_PATTERN)
NAME = Param("the schedule: " + NAME_HELP, pattern=NAME_PATTERN)
TAG_NAME = Param("the tag: " + NAME_HELP, pattern=NAME_PATTERN)
VERSION_NUMBER = Param("a version, from 1", ge=1, le=MAX_VERSION)
TOKEN_ID = Param(ge=1, le=MAX_TOKEN_ID)

VERSION = Param("pin a version (cacheable forever)", ge=1, le=MAX_VERSION)
TAG = Param("resolve a tag; `latest` (the default) is the newest", pattern=NAME_PATTERN)
STEPS_PER_EPOCH = Param("for `epochs` schedules that leave it out", ge=1, le=MAX_STEP)
TOTAL_STEPS = Param(
    'the run\'s number of optimizer updates: binds a run-length template ("0.1dur"); '
    "required for one, ignored otherwise",
    ge=1,
    le=MAX_STEP,
)
STEP = Param("one step: answers {step, lr} as JSON", ge=0, le=MAX_STEP)
START = Param("range start (default 0)", ge=0, le=MAX_STEP)
STOP = Param("range stop, exclusive", ge=0, le=MAX_STEP + 1)
STRIDE = Param("range stride (default 1)", ge=1, le=MAX_STEP)

NAMESPACE_FILTER = Param(pattern=NAME_PATTERN)
# No control characters: PostgreSQL refuses a NUL in a text parameter.
SEARCH = Param("substring of ns/name", max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")
LIMIT = Param("page size", ge=1, le=MAX_PAGE)
HAS_TAG = Param("has this tag", pattern=NAME_PATTERN)

Namespace = Annotated[str, NAMESPACE.path()]
Name = Annotated[str, NAME.path()]
TagName = Annotated[str, TAG_NAME.path()]
VersionNumberInt = Annotated[int, VERSION_NUMBER.bounds(), URL_INTEGER]
VersionNumber = Annotated[VersionNumberInt, VERSION_NUMBER.path()]
TokenId = Annotated[Annotated[int, TOKEN_ID.bounds(), URL_INTEGER], TOKEN_ID.path()]

VersionQuery = Annotated[Annotated[int, VERSION.bounds(), URL_INTEGER] | None, VERSION.query()]
TagQuery = Annotated[str | None, TAG.query()]
StepsPerEpochInt = Annotated[int, STEPS_PER_EPOCH.bounds(), URL_INTEGER]
StepsPerEpoch = Annotated[StepsPerEpochInt | None, STEPS_PER_EPOCH.query()]
TotalStepsInt = Annotated[int, TOTAL_STEPS.bounds(), URL_INTEGER]
TotalSteps = Annotated[TotalStepsInt | None, TOTAL_STEPS.query()]
NamespaceFilter = Annotated[str | None, NAMESPACE_FILTER.query()]
Search = Annotated[str | None, SEARCH.query()]
HasTag = Annotated[str | None, HAS_TAG.query()]


class LrQuery(BaseModel):
    """Query parameters of GET .../lr, parsed in one step by `fastparams.parse`."""

    model_config = ConfigDict(extra="ignore")

    step: Annotated[int, STEP.bounds(), URL_INTEGER] | None = STEP.field()
    start: Annotated[int, START.bounds(), URL_INTEGER] | None = START.field()
    stop: Annotated[int, STOP.bounds(), URL_INTEGER] | None = STOP.field()
    stride: Annotated[int, STRIDE.bounds(), URL_INTEGER] | None = STRIDE.field()
    version: Annotated[int, VERSION.bounds(), URL_INTEGER] | None = VERSION.field()
    tag: str | None = TAG.field()
    steps_per_epoch: StepsPerEpochInt | None = STEPS_PER_EPOCH.field()
    total_steps: TotalStepsInt | None = TOTAL_STEPS.field()


def check_selector(version: int | None, tag: str | None) -> None:
    """Raises ApiError 422 when both `version` and `tag` are given."""
    if version is not None and tag is not None:
        raise ApiError(
            "validation_error",
            "give either version= or tag=, not both",
            errors=[{"path": "/query/tag", "message": "version= and tag= exclude each other"}],
        )
