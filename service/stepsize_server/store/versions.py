"""Versions: publish (gapless, immutable, idempotent on the latest digest), read, resolve."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Select, insert, select, update

from ..schedules import canonical_json
from . import audit as audit_log
from .db import Database, RowLike
from .errors import (
    ArchivedUnpinned,
    ScheduleArchived,
    ScheduleNotFound,
    TagNotFound,
    VersionNotFound,
)
from .records import Amends, PublishResult, VersionRecord
from .schedules import schedule_row
from .schema import schedules, tags, utcnow, versions

LATEST = "latest"
# The audit action of an amendment (the store's actions are `<object>.<verb>`).
AMEND = "schedule.amend"
# Called under the schedule's lock, before an amendment is stored: raises to refuse it.
Guard = Callable[[Connection, int], None]


def publish_version(
    db: Database,
    *,
    namespace: str,
    name: str,
    definition: dict[str, Any],
    digest: str,
    description: str | None,
    labels: dict[str, str],
    actor: str,
    amends: Amends | None = None,
    guard: Guard | None = None,
) -> PublishResult:
    """Store `definition` (already normalized, with its `digest`) as the next version,
    creating the schedule on its first version.

    If the latest version has the same digest (and, for an amendment, amends the same
    version from the same step), nothing is written and that version is returned with
    `created=False`. Safe under concurrent publishers: versions stay gapless (write lock
    up front on SQLite, row lock on PostgreSQL, a unique constraint and a bounded retry
    as the backstop). An amendment (`amends`) is stored with its link, audited as
    `schedule.amend`, and first passed to `guard(conn, schedule_id)` under the lock.
    Raises ScheduleArchived, VersionNotFound (an amendment of a missing version), what
    `guard` raises; blocks while another writer holds the lock (see `Database.write`)."""

    def publish(conn: Connection) -> PublishResult:
        row = schedule_row(conn, namespace=namespace, name=name, for_update=True)
        now = utcnow()
        if row is None:
            conn.execute(
                insert(schedules).values(
                    namespace=namespace,
                    name=name,
                    latest_version=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            row = schedule_row(conn, namespace=namespace, name=name, for_update=True)
            assert row is not None
        if row["archived_at"] is not None:
            raise ScheduleArchived(namespace, name)
        latest = row["latest_version"]
        if amends is not None and not 1 <= amends.version <= latest:
            raise VersionNotFound(namespace, name, amends.version, latest)
        if latest:
            current = _version_row(conn, schedule_id=row["id"], version=latest)
            if (
                current is not None
                and current["digest"] == digest
                and (amends is None or _amends(current) == amends)
            ):
                return PublishResult(_record(namespace, name, current), created=False)
        if amends is not None and guard is not None:
            guard(conn, row["id"])
        version = latest + 1
        values = {
            "schedule_id": row["id"],
            "version": version,
            "digest": digest,
            "definition": canonical_json(definition),
            "description": description,
            "labels": labels,
            "author": actor,
            "created_at": now,
            "amends_version": amends.version if amends else None,
            "amends_from_step": amends.from_step if amends else None,
        }
        conn.execute(insert(versions).values(**values))
        bumped = conn.execute(
            update(schedules)
            .where(schedules.c.id == row["id"], schedules.c.latest_version == latest)
            .values(latest_version=version, updated_at=now)
        )
        if bumped.rowcount != 1:  # pragma: no cover - the lock makes this impossible
            raise RuntimeError(f"{namespace}/{name}: latest version moved during publish")
        detail: dict[str, Any] = {"version": version, "digest": digest}
        if amends is not None:
            detail.update(amends_version=amends.version, from_step=amends.from_step)
        audit_log.record(
            conn,
            actor=actor,
            action=AMEND if amends is not None else audit_log.PUBLISH,
            namespace=namespace,
            target=f"{namespace}/{name}@{version}",
            detail=detail,
        )
        return PublishResult(_record(namespace, name, values), created=True)

    return db.write(publish)


def get_version(db: Database, *, namespace: str, name: str, version: int) -> VersionRecord:
    """One version with its definition (archived schedules included).
    Raises ScheduleNotFound or VersionNotFound."""
    with db.read() as conn:
        row = (
            conn.execute(
                select(versions)
                .join(schedules, schedules.c.id == versions.c.schedule_id)
                .where(
                    schedules.c.namespace == namespace,
                    schedules.c.name == name,
                    versions.c.version == version,
                )
            )
            .mappings()
            .first()
        )
        if row is not None:
            return _record(namespace, name, row)
        sched = schedule_row(conn, namespace=namespace, name=name)
    if sched is None:
        raise ScheduleNotFound(namespace, name)
    raise VersionNotFound(namespace, name, version, sched["latest_version"])


def list_versions(
    db: Database, *, namespace: str, name: str, limit: int = 100, before: int | None = None
) -> list[VersionRecord]:
    """Versions newest first, starting below version `before`; each record's `definition`
    is included. Raises ScheduleNotFound."""
    with db.read() as conn:
        sched = schedule_row(conn, namespace=namespace, name=name)
        if sched is None:
            raise ScheduleNotFound(namespace, name)
        query = (
            select(versions)
            .where(versions.c.schedule_id == sched["id"])
            .order_by(versions.c.version.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(versions.c.version < before)
        rows = conn.execute(query).mappings().all()
    return [_record(namespace, name, r) for r in rows]


def resolve_version(db: Database, *, namespace: str, name: str, tag: str | None = None) -> int:
    """The version number that `tag` (None or "latest": the newest version) points to,
    in one indexed query. Raises ScheduleNotFound, TagNotFound, or ArchivedUnpinned (an
    archived schedule only answers pinned versions)."""
    named = tag is not None and tag != LATEST
    # Typed open-ended: the tag's version column is added below when `named`.
    query: Select[*tuple[Any, ...]] = select(
        schedules.c.latest_version, schedules.c.archived_at
    ).where(schedules.c.namespace == namespace, schedules.c.name == name)
    if named:
        query = query.add_columns(tags.c.version).outerjoin(
            tags, (tags.c.schedule_id == schedules.c.id) & (tags.c.tag == tag)
        )
    with db.read() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise ScheduleNotFound(namespace, name)
    if row[1] is not None:
        raise ArchivedUnpinned(namespace, name)
    if not named:
        return int(row[0])
    if row[2] is None:
        raise TagNotFound(namespace, name, str(tag))
    return int(row[2])


def _version_row(conn: Connection, *, schedule_id: int, version: int) -> RowLike | None:
    return (
        conn.execute(
            select(versions).where(
                versions.c.schedule_id == schedule_id, versions.c.version == version
            )
        )
        .mappings()
        .first()
    )


def _record(namespace: str, name: str, row: RowLike) -> VersionRecord:
    return VersionRecord(
        namespace=namespace,
        name=name,
        version=row["version"],
        digest=row["digest"],
        definition=json.loads(row["definition"]),
        description=row["description"],
        labels=dict(row["labels"] or {}),
        author=row["author"],
        created_at=row["created_at"],
        amends=_amends(row),
    )


def _amends(row: RowLike) -> Amends | None:
    """The version's amendment link, None for an ordinary version."""
    if row.get("amends_version") is None:
        return None
    return Amends(version=int(row["amends_version"]), from_step=int(row["amends_from_step"]))
