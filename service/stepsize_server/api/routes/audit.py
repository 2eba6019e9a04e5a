"""GET /v1/audit: who published, tagged, archived what, and when."""

from __future__ import annotations

from fastapi import APIRouter

from ...store import audit as store
from ..deps import DbDep, Reader
from ..models import AuditEntryPublic, AuditList
from ..pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, page
from ..params import NamespaceFilter

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit", response_model=AuditList, summary="the audit log, newest first")
def list_audit(
    caller: Reader,
    db: DbDep,
    namespace: NamespaceFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> AuditList:
    """Every write (publish, tag set/drop, archive, token create/revoke) with its actor
    (the token id and description), action, target and time."""
    before = decode_cursor(cursor, int) if cursor else None
    entries = store.list_entries(db, namespace=namespace, limit=limit + 1, before=before)
    shown, next_cursor = page(entries, limit, key=lambda e: e.id)
    return AuditList(
        items=[AuditEntryPublic.model_validate(e) for e in shown],
        next_cursor=next_cursor,
    )
