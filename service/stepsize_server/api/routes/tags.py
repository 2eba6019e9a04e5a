"""Tags: move (PUT) or drop (DELETE) under an If-Match precondition."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from ...store import tags as store
from ...store.tags import IfMatch
from ...store.versions import LATEST
from ..deps import DbDep, Writer
from ..errors import ApiError
from ..models import TagPublic, TagUpdate
from ..params import Name, Namespace, TagName

router = APIRouter(prefix="/v1/schedules", tags=["tags"])

# `*`, or a version as ASCII digits, bare or as an entity tag (`3`, `"3"`, `W/"3"`):
# str.isdigit() would also take `²` or `٣`, which int() refuses.
IF_MATCH_PATTERN = r'^(\*|(W/)?"?[0-9]{1,9}"?)$'
_IF_MATCH = re.compile(IF_MATCH_PATTERN)
IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        # Documented, and checked by parse_if_match (whose message says what to send).
        json_schema_extra={"pattern": IF_MATCH_PATTERN},
        description='the tag\'s current version (e.g. 3 or "3"), or *; leave out to create',
    ),
]
PRECONDITION: dict[int | str, dict[str, Any]] = {
    412: {"description": "If-Match does not name the tag's current version"}
}


@router.put(
    "/{namespace}/{name}/tags/{tag}",
    response_model=TagPublic,
    responses=PRECONDITION,
    summary="create or move a tag",
)
def put_tag(
    namespace: Namespace,
    name: Name,
    tag: TagName,
    body: TagUpdate,
    response: Response,
    caller: Writer,
    db: DbDep,
    if_match: IfMatchHeader = None,
) -> TagPublic:
    """Point the tag at `version`. An existing tag moves only with `If-Match: <its
    current version>` (or `*`), else 412; a new one needs no If-Match. The answer's ETag
    is the new version, ready for the next If-Match."""
    change = store.set_tag(
        db,
        namespace=namespace,
        name=name,
        tag=_not_latest(tag),
        version=body.version,
        if_match=parse_if_match(if_match),
        actor=caller.actor,
    )
    response.headers["ETag"] = f'"{change.version}"'
    return TagPublic(
        schedule=f"{namespace}/{name}", tag=tag, version=change.version, previous=change.previous
    )


@router.delete(
    "/{namespace}/{name}/tags/{tag}",
    response_model=TagPublic,
    responses=PRECONDITION,
    summary="drop a tag",
)
def delete_tag(
    namespace: Namespace,
    name: Name,
    tag: TagName,
    caller: Writer,
    db: DbDep,
    if_match: IfMatchHeader = None,
) -> TagPublic:
    """Remove the tag; `If-Match: <its current version>` (or `*`) is required, else 412."""
    change = store.drop_tag(
        db,
        namespace=namespace,
        name=name,
        tag=_not_latest(tag),
        if_match=parse_if_match(if_match),
        actor=caller.actor,
    )
    return TagPublic(
        schedule=f"{namespace}/{name}", tag=tag, version=None, previous=change.previous
    )


def parse_if_match(value: str | None) -> IfMatch:
    """`3`, `"3"`, `W/"3"` -> 3; `*` -> "*"; absent -> None. Raises ApiError 422 for
    anything else (the header is also declared with IF_MATCH_PATTERN, so FastAPI refuses
    most before this runs)."""
    if value is None:
        return None
    text = value.strip()
    if not _IF_MATCH.fullmatch(text):
        raise ApiError(
            "validation_error",
            f"If-Match must be the tag's current version number (ASCII digits, such as 3 or "
            f'"3") or *. Received: {value[:80]!r}',
            errors=[{"path": "/header/If-Match", "message": "expected a version number or *"}],
        )
    return "*" if text == "*" else int(text.removeprefix("W/").strip('"'))


def _not_latest(tag: str) -> str:
    if tag == LATEST:
        raise ApiError(
            "validation_error",
            "`latest` is implicit (the newest version) and cannot be set or dropped",
            errors=[{"path": "/path/tag", "message": "reserved tag name"}],
        )
    return tag
