"""Cursor pagination: `limit` and an opaque `cursor`, answered with `next_cursor`.

A route asks the store for `limit + 1` items after the cursor's key; `page` cuts the
answer to `limit` and makes the next cursor from the last item shown, if there is more."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query

from .errors import ApiError
from .names import NAME_PATTERN
from .params import LIMIT, URL_INTEGER

T = TypeVar("T")
DEFAULT_LIMIT = 100
# A key inside a cursor is a row id or version (a signed 64-bit column) or a name.
MAX_CURSOR_INT = 2**63 - 1
_NAME = re.compile(NAME_PATTERN)
Limit = Annotated[int, LIMIT.bounds(), URL_INTEGER, LIMIT.query()]
Cursor = Annotated[
    str | None,
    Query(
        max_length=512,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="`next_cursor` of the previous page (opaque, base64url)",
    ),
]


def encode_cursor(value: Any) -> str:
    """An opaque page cursor holding `value` (JSON)."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: type, *, length: int = 2) -> Any:
    """The value inside a cursor made by `encode_cursor`: an int in 0..2**63-1, or (`kind`
    tuple) a tuple of `length` names. Raises ApiError 422 if it is not one (or not of
    `kind`): a cursor is opaque, so anything but what a page answered is refused here,
    before it reaches a database column it might not fit."""
    try:
        value = json.loads(base64.b64decode(_padded(cursor), altchars=b"-_", validate=True))
    except (ValueError, TypeError, binascii.Error, RecursionError):
        value = None
    if (
        kind is tuple
        and isinstance(value, list)
        and len(value) == length
        and all(isinstance(v, str) and _NAME.fullmatch(v) for v in value)
    ):
        return tuple(value)
    if (
        kind is int
        and isinstance(value, int)
        and not isinstance(value, bool)
        and 0 <= value <= MAX_CURSOR_INT
    ):
        return value
    raise ApiError(
        "validation_error",
        "invalid cursor: pass the next_cursor of a previous page unchanged",
        errors=[{"path": "/query/cursor", "message": "invalid cursor"}],
    )


def _padded(cursor: str) -> bytes:
    """The cursor's base64 with its `=` padding restored. Raises ValueError for non-ASCII."""
    return (cursor + "=" * (-len(cursor) % 4)).encode("ascii")


def page(items: Sequence[T], limit: int, key: Callable[[T], Any]) -> tuple[Sequence[T], str | None]:
    """The first `limit` of `items` (fetched as `limit + 1`) and the cursor of the next
    page: `key` of the last item shown, or None when this is the last page."""
    shown = items[:limit]
    return shown, encode_cursor(key(shown[-1])) if len(items) > limit else None
