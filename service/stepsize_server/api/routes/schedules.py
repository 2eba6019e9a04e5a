"""Schedules: list, summary, archive."""

from __future__ import annotations

from fastapi import APIRouter

from ...store import schedules as store
from ..deps import DbDep, Reader, Writer
from ..models import ScheduleList, SchedulePublic
from ..pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, page
from ..params import HasTag, Name, Namespace, NamespaceFilter, Search

router = APIRouter(prefix="/v1/schedules", tags=["schedules"])


@router.get("", response_model=ScheduleList, summary="list schedules")
def list_schedules(
    caller: Reader,
    db: DbDep,
    namespace: NamespaceFilter = None,
    q: Search = None,
    tag: HasTag = None,
    include_archived: bool = False,
    limit: Limit = DEFAULT_LIMIT,
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
    shown, next_cursor = page(items, limit, key=lambda s: [s.namespace, s.name])
    return ScheduleList(
        items=[SchedulePublic.model_validate(s) for s in shown], next_cursor=next_cursor
    )


@router.get("/{namespace}/{name}", response_model=SchedulePublic, summary="schedule summary")
def get_schedule(namespace: Namespace, name: Name, caller: Reader, db: DbDep) -> SchedulePublic:
    """Latest version, tags, version count and times (archived schedules too)."""
    return SchedulePublic.model_validate(store.get_summary(db, namespace=namespace, name=name))


@router.delete("/{namespace}/{name}", response_model=SchedulePublic, summary="archive")
def archive_schedule(namespace: Namespace, name: Name, caller: Writer, db: DbDep) -> SchedulePublic:
    """Hide the schedule from lists and refuse new versions and tag changes. Nothing is
    deleted: pinned versions (`version=N`) still resolve; `latest` and tags answer 410."""
    summary = store.archive_schedule(db, namespace=namespace, name=name, actor=caller.actor)
    return SchedulePublic.model_validate(summary)
