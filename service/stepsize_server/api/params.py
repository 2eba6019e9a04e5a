"""Path and query parameters shared by the routers, validated by FastAPI (a bad value is
a 422 problem naming it)."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import Path, Query

from ..schedules import MAX_STEP
from .names import NAME_HELP, NAME_PATTERN
from .problems import ApiError

Namespace = Annotated[str, Path(pattern=NAME_PATTERN, description="the team: " + NAME_HELP)]
Name = Annotated[str, Path(pattern=NAME_PATTERN, description="the schedule: " + NAME_HELP)]
TagName = Annotated[str, Path(pattern=NAME_PATTERN, description="the tag: " + NAME_HELP)]
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="a version, from 1")]

VersionQuery = Annotated[
    int | None, Query(ge=1, le=2**31 - 1, description="pin a version (cacheable forever)")
]
TagQuery = Annotated[
    str | None,
    Query(pattern=NAME_PATTERN, description="resolve a tag; `latest` (the default) is the newest"),
]
StepsPerEpoch = Annotated[
    int | None,
    Query(ge=1, le=MAX_STEP, description="for `epochs` schedules that leave it out"),
]
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page")
]


def check_selector(version: int | None, tag: str | None) -> None:
    """Raises ApiError 422 when both `version` and `tag` are given."""
    if version is not None and tag is not None:
        raise ApiError(
            "validation_error",
            "give either version= or tag=, not both",
            errors=[{"path": "/query/tag", "message": "version= and tag= exclude each other"}],
        )


def encode_cursor(value: Any) -> str:
    """An opaque page cursor."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: type) -> Any:
    """The value inside a cursor made by `encode_cursor`. Raises ApiError 422 if it is not
    one (or not of `kind`)."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        value = None
    if kind is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ApiError(
        "validation_error",
        "invalid cursor: pass the next_cursor of a previous page unchanged",
        errors=[{"path": "/query/cursor", "message": "invalid cursor"}],
    )
