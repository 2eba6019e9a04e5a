"""GET /v1/audit: who published, tagged, archived what, and when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ..store import audit as store
from .deps import DbDep, Reader
from .models import AuditEntryPublic, AuditList
from .params import NAME_PATTERN, Cursor, Limit, decode_cursor, encode_cursor

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit", response_model=AuditList, summary="the audit log, newest first")
def list_audit(
    caller: Reader,
    db: DbDep,
    namespace: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> AuditList:
    """Every write (publish, tag set/drop, archive, token create/revoke) with its actor
    (the token id and description), action, target and time."""
    before = decode_cursor(cursor, int) if cursor else None
    entries = store.list_entries(db, namespace=namespace, limit=limit + 1, before=before)
    page = entries[:limit]
    return AuditList(
        items=[
            AuditEntryPublic(
                id=e.id,
                at=e.at,
                actor=e.actor,
                action=e.action,
                namespace=e.namespace,
                target=e.target,
                detail=e.detail,
            )
            for e in page
        ],
        next_cursor=encode_cursor(page[-1].id) if len(entries) > limit else None,
    )
