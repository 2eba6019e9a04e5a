"""Path and query parameters, each with its bounds and meaning declared once.

A `Param` is used three ways from the same declaration: as FastAPI's `Path`/`Query` in the
`Annotated` aliases the routes take (FastAPI validates them: a bad value is a 422 problem
naming it), as a pydantic `Field` of the hot-path query model `LrQuery` (validated in one
step by `fastparams.parse`), and as the bounds of a step range given in a JSON body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from ..schedules import MAX_STEP
from .errors import ApiError
from .names import NAME_HELP, NAME_PATTERN

MAX_VERSION = 2**31 - 1
MAX_TOKEN_ID = 2**62


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
        """FastAPI's `Path(...)` with these bounds."""
        return Path(**self._constraints())

    def query(self) -> Any:
        """FastAPI's `Query(...)` with these bounds."""
        return Query(**self._constraints())

    def field(self) -> Any:
        """A pydantic `Field` with these bounds, defaulting to None."""
        return Field(None, **self._constraints())

    def _constraints(self) -> dict[str, Any]:
        given = {
            "description": self.description,
            "ge": self.ge,
            "le": self.le,
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
STEP = Param("one step: answers {step, lr} as JSON", ge=0, le=MAX_STEP)
START = Param("range start (default 0)", ge=0, le=MAX_STEP)
STOP = Param("range stop, exclusive", ge=0, le=MAX_STEP + 1)
STRIDE = Param("range stride (default 1)", ge=1, le=MAX_STEP)

NAMESPACE_FILTER = Param(pattern=NAME_PATTERN)
SEARCH = Param("substring of ns/name", max_length=200)
HAS_TAG = Param("has this tag", pattern=NAME_PATTERN)

Namespace = Annotated[str, NAMESPACE.path()]
Name = Annotated[str, NAME.path()]
TagName = Annotated[str, TAG_NAME.path()]
VersionNumber = Annotated[int, VERSION_NUMBER.path()]
TokenId = Annotated[int, TOKEN_ID.path()]

VersionQuery = Annotated[int | None, VERSION.query()]
TagQuery = Annotated[str | None, TAG.query()]
StepsPerEpoch = Annotated[int | None, STEPS_PER_EPOCH.query()]
NamespaceFilter = Annotated[str | None, NAMESPACE_FILTER.query()]
Search = Annotated[str | None, SEARCH.query()]
HasTag = Annotated[str | None, HAS_TAG.query()]


class LrQuery(BaseModel):
    """Query parameters of GET .../lr, parsed in one step by `fastparams.parse`."""

    model_config = ConfigDict(extra="ignore")

    step: int | None = STEP.field()
    start: int | None = START.field()
    stop: int | None = STOP.field()
    stride: int | None = STRIDE.field()
    version: int | None = VERSION.field()
    tag: str | None = TAG.field()
    steps_per_epoch: int | None = STEPS_PER_EPOCH.field()


def check_selector(version: int | None, tag: str | None) -> None:
    """Raises ApiError 422 when both `version` and `tag` are given."""
    if version is not None and tag is not None:
        raise ApiError(
            "validation_error",
            "give either version= or tag=, not both",
            errors=[{"path": "/query/tag", "message": "version= and tag= exclude each other"}],
        )
