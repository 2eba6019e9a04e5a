"""GET /v1/audit: who published, tagged, archived what, and when.

The log names tokens by id and description (who did what), which is not for anonymous
eyes: it needs a valid token of any scope even while public reads are on (SPEC 6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from ...store import audit as store
from ..deps import Caller, CallerDep, DbDep
from ..errors import ApiError
from ..models import AuditEntryPublic, AuditList
from ..pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, page
from ..params import NamespaceFilter

router = APIRouter(prefix="/v1", tags=["audit"])


async def require_token(caller: CallerDep) -> Caller:
    """Any valid token, whatever `STEPSIZE_PUBLIC_READ` says. Raises ApiError 401 without
    one (and `current_caller`'s 401 for a bad one)."""
    if caller.token is None:
        raise ApiError(
            "unauthorized",
            "the audit log needs a token (any scope), even where reads are public: it "
            "names the tokens that made each change",
            headers={"WWW-Authenticate": 'Bearer realm="stepsize"'},
        )
    return caller


TokenHolder = Annotated[Caller, Depends(require_token)]


@router.get("/audit", response_model=AuditList, summary="the audit log, newest first")
def list_audit(
    caller: TokenHolder,
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
