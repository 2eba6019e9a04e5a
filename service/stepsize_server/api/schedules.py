"""Schedules: list, summary, archive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ..store import schedules as store
from ..store.records import ScheduleSummary
from .deps import DbDep, Reader, Writer
from .models import ScheduleList, SchedulePublic
from .params import NAME_PATTERN, Cursor, Limit, Name, Namespace, decode_cursor, encode_cursor

router = APIRouter(prefix="/v1/schedules", tags=["schedules"])


@router.get("", response_model=ScheduleList, summary="list schedules")
def list_schedules(
    caller: Reader,
    db: DbDep,
    namespace: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    q: Annotated[str | None, Query(max_length=200, description="substring of ns/name")] = None,
    tag: Annotated[str | None, Query(pattern=NAME_PATTERN, description="has this tag")] = None,
    include_archived: bool = False,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> ScheduleList:
    """Schedules by namespace then name; archived ones only with `include_archived`."""
    after = decode_cursor(cursor, tuple) if cursor else None
    items = store.list_schedules(
        db,
        namespace=namespace,
        q=q,
        tag=tag,
        include_archived=include_archived,
        limit=limit + 1,
        after=after,
    )
    page = items[:limit]
    next_cursor = encode_cursor([page[-1].namespace, page[-1].name]) if len(items) > limit else None
    return ScheduleList(items=[public(s) for s in page], next_cursor=next_cursor)


@router.get("/{namespace}/{name}", response_model=SchedulePublic, summary="schedule summary")
def get_schedule(namespace: Namespace, name: Name, caller: Reader, db: DbDep) -> SchedulePublic:
    """Latest version, tags, version count and times (archived schedules too)."""
    return public(store.get_summary(db, namespace=namespace, name=name))


@router.delete("/{namespace}/{name}", response_model=SchedulePublic, summary="archive")
def archive_schedule(namespace: Namespace, name: Name, caller: Writer, db: DbDep) -> SchedulePublic:
    """Hide the schedule from lists and refuse new versions and tag changes. Nothing is
    deleted: pinned versions (`version=N`) still resolve; `latest` and tags answer 410."""
    return public(store.archive_schedule(db, namespace=namespace, name=name, actor=caller.actor))


def public(summary: ScheduleSummary) -> SchedulePublic:
    return SchedulePublic(
        namespace=summary.namespace,
        name=summary.name,
        latest_version=summary.latest_version,
        tags=summary.tags,
        version_count=summary.version_count,
        created_at=summary.created_at,
        updated_at=summary.updated_at,
        archived=summary.archived,
    )
