"""Schedules: summaries, listing and archiving."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, and_, or_, select, update

from . import audit as audit_log
from .db import Database, RowLike
from .errors import ScheduleArchived, ScheduleNotFound
from .records import ScheduleSummary
from .schema import schedules, tags, utcnow


def schedule_row(
    conn: Connection, *, namespace: str, name: str, for_update: bool = False
) -> RowLike | None:
    """The schedule's row, or None. With `for_update`, locks it (PostgreSQL) until the
    transaction ends; SQLite's writers are already serialized by BEGIN IMMEDIATE."""
    query = select(schedules).where(schedules.c.namespace == namespace, schedules.c.name == name)
    if for_update:
        query = query.with_for_update()
    return conn.execute(query).mappings().first()


def writable_row(conn: Connection, *, namespace: str, name: str) -> RowLike:
    """The locked row of a schedule that accepts changes. Raises ScheduleNotFound or
    ScheduleArchived."""
    row = schedule_row(conn, namespace=namespace, name=name, for_update=True)
    if row is None:
        raise ScheduleNotFound(namespace, name)
    if row["archived_at"] is not None:
        raise ScheduleArchived(namespace, name)
    return row


def get_summary(db: Database, *, namespace: str, name: str) -> ScheduleSummary:
    """Latest version, tags, times, archived flag (archived schedules are found too).
    Raises ScheduleNotFound."""
    with db.read() as conn:
        row = schedule_row(conn, namespace=namespace, name=name)
        if row is None:
            raise ScheduleNotFound(namespace, name)
        return _summaries(conn, [row])[0]


def list_schedules(
    db: Database,
    *,
    namespace: str | None = None,
    q: str | None = None,
    tag: str | None = None,
    include_archived: bool = False,
    limit: int = 100,
    after: tuple[str, str] | None = None,
) -> list[ScheduleSummary]:
    """Schedules ordered by (namespace, name), starting after `after`.

    `q` matches a substring of "namespace/name"; `tag` keeps schedules that have it."""
    query = select(schedules).order_by(schedules.c.namespace, schedules.c.name).limit(limit)
    if not include_archived:
        query = query.where(schedules.c.archived_at.is_(None))
    if namespace is not None:
        query = query.where(schedules.c.namespace == namespace)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            (schedules.c.namespace + "/" + schedules.c.name).like(pattern, escape="\\")
        )
    if tag is not None:
        query = query.where(
            select(tags.c.tag)
            .where(tags.c.schedule_id == schedules.c.id, tags.c.tag == tag)
            .exists()
        )
    if after is not None:
        ns, nm = after
        query = query.where(
            or_(
                schedules.c.namespace > ns,
                and_(schedules.c.namespace == ns, schedules.c.name > nm),
            )
        )
    with db.read() as conn:
        rows = conn.execute(query).mappings().all()
        return _summaries(conn, rows)


def archive_schedule(db: Database, *, namespace: str, name: str, actor: str) -> ScheduleSummary:
    """Hide a schedule from lists and refuse new versions and tag changes; nothing is
    deleted and pinned versions still resolve. Archiving twice is a no-op.
    Raises ScheduleNotFound."""

    def archive(conn: Connection) -> ScheduleSummary:
        row = schedule_row(conn, namespace=namespace, name=name, for_update=True)
        if row is None:
            raise ScheduleNotFound(namespace, name)
        if row["archived_at"] is None:
            now = utcnow()
            conn.execute(
                update(schedules)
                .where(schedules.c.id == row["id"])
                .values(archived_at=now, updated_at=now)
            )
            audit_log.record(
                conn,
                actor=actor,
                action=audit_log.ARCHIVE,
                namespace=namespace,
                target=f"{namespace}/{name}",
            )
            row = schedule_row(conn, namespace=namespace, name=name)
            assert row is not None
        return _summaries(conn, [row])[0]

    return db.write(archive)


def _summaries(conn: Connection, rows: Sequence[RowLike]) -> list[ScheduleSummary]:
    ids = [r["id"] for r in rows]
    by_schedule: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        tag_rows = conn.execute(
            select(tags.c.schedule_id, tags.c.tag, tags.c.version)
            .where(tags.c.schedule_id.in_(ids))
            .order_by(tags.c.tag)
        )
        for schedule_id, tag, version in tag_rows:
            by_schedule[schedule_id][tag] = version
    return [
        ScheduleSummary(
            namespace=r["namespace"],
            name=r["name"],
            latest_version=r["latest_version"],
            tags=by_schedule[r["id"]],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            archived=r["archived_at"] is not None,
        )
        for r in rows
    ]
