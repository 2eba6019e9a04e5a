"""Tags: named pointers to versions, moved and dropped under If-Match preconditions."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import Connection, delete, insert, select, update

from . import audit as audit_log
from .db import Database
from .errors import TagNotFound, TagPreconditionFailed, VersionNotFound
from .records import TagChange
from .schedules import writable_row
from .schema import schedules, tags, utcnow

# What an If-Match header asks for: absent, any existing value ("*"), or one version.
IfMatch = int | Literal["*"] | None


def set_tag(
    db: Database,
    *,
    namespace: str,
    name: str,
    tag: str,
    version: int,
    if_match: IfMatch,
    actor: str,
) -> TagChange:
    """Point `tag` at `version`.

    A new tag needs no If-Match; an existing one needs If-Match naming its current version
    (or "*"). Setting a tag to where it already points changes nothing and is not
    audited. Raises ScheduleNotFound, ScheduleArchived, VersionNotFound or
    TagPreconditionFailed."""

    def move(conn: Connection) -> TagChange:
        row = writable_row(conn, namespace=namespace, name=name)
        if not 1 <= version <= row["latest_version"]:
            raise VersionNotFound(namespace, name, version, row["latest_version"])
        current = _current(conn, schedule_id=row["id"], tag=tag)
        _check(tag, current, if_match)
        if current == version:
            return TagChange(tag=tag, version=version, previous=current)
        now = utcnow()
        if current is None:
            conn.execute(
                insert(tags).values(schedule_id=row["id"], tag=tag, version=version, updated_at=now)
            )
        else:
            conn.execute(
                update(tags)
                .where(tags.c.schedule_id == row["id"], tags.c.tag == tag)
                .values(version=version, updated_at=now)
            )
        conn.execute(update(schedules).where(schedules.c.id == row["id"]).values(updated_at=now))
        audit_log.record(
            conn,
            actor=actor,
            action=audit_log.TAG_SET,
            namespace=namespace,
            target=f"{namespace}/{name}:{tag}",
            detail={"version": version, "previous": current},
        )
        return TagChange(tag=tag, version=version, previous=current)

    return db.write(move)


def drop_tag(
    db: Database, *, namespace: str, name: str, tag: str, if_match: IfMatch, actor: str
) -> TagChange:
    """Remove `tag`; If-Match must name its current version (or be "*").
    Raises ScheduleNotFound, ScheduleArchived, TagNotFound or TagPreconditionFailed."""

    def drop(conn: Connection) -> TagChange:
        row = writable_row(conn, namespace=namespace, name=name)
        current = _current(conn, schedule_id=row["id"], tag=tag)
        if current is None:
            raise TagNotFound(namespace, name, tag)
        _check(tag, current, if_match)
        conn.execute(delete(tags).where(tags.c.schedule_id == row["id"], tags.c.tag == tag))
        conn.execute(
            update(schedules).where(schedules.c.id == row["id"]).values(updated_at=utcnow())
        )
        audit_log.record(
            conn,
            actor=actor,
            action=audit_log.TAG_DROP,
            namespace=namespace,
            target=f"{namespace}/{name}:{tag}",
            detail={"previous": current},
        )
        return TagChange(tag=tag, version=current, previous=current)

    return db.write(drop)


def _current(conn: Connection, *, schedule_id: int, tag: str) -> int | None:
    return conn.execute(
        select(tags.c.version).where(tags.c.schedule_id == schedule_id, tags.c.tag == tag)
    ).scalar()


def _check(tag: str, current: int | None, if_match: IfMatch) -> None:
    # A new tag must not claim a current value; an existing one must name it (or "*").
    ok = if_match is None if current is None else if_match in ("*", current)
    if not ok:
        raise TagPreconditionFailed(tag, current, None if if_match is None else str(if_match))
