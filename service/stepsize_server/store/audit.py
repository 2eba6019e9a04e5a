"""The audit log: one row per write, in the same transaction as the write itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from .db import Database
from .records import AuditEntry
from .schema import audit, utcnow

# Actions written by the store functions.
PUBLISH = "schedule.publish"
ARCHIVE = "schedule.archive"
TAG_SET = "tag.set"
TAG_DROP = "tag.drop"
TOKEN_CREATE = "token.create"
TOKEN_REVOKE = "token.revoke"


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    namespace: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry; call inside the write transaction it describes."""
    conn.execute(
        insert(audit).values(
            at=utcnow(),
            actor=actor,
            action=action,
            namespace=namespace,
            target=target,
            detail=detail or {},
        )
    )


def list_entries(
    db: Database, *, namespace: str | None = None, limit: int = 100, before: int | None = None
) -> list[AuditEntry]:
    """Newest first; `before` is the id of the last entry of the previous page."""
    query = select(audit).order_by(audit.c.id.desc()).limit(limit)
    if namespace is not None:
        query = query.where(audit.c.namespace == namespace)
    if before is not None:
        query = query.where(audit.c.id < before)
    with db.read() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        AuditEntry(
            id=r["id"],
            at=r["at"],
            actor=r["actor"],
            action=r["action"],
            namespace=r["namespace"],
            target=r["target"],
            detail=dict(r["detail"] or {}),
        )
        for r in rows
    ]
