"""Token management (admin scope): create (the secret is shown once), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter

from ...store import tokens as store
from ..deps import Admin, DbDep
from ..errors import ApiError
from ..models import TokenCreate, TokenCreated, TokenList, TokenPublic
from ..params import TokenId

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


@router.post("", response_model=TokenCreated, status_code=201, summary="create a token")
def create_token(body: TokenCreate, caller: Admin, db: DbDep) -> TokenCreated:
    """A new token with `scopes` (read, write:<namespace>, write:*, admin). The secret
    is in this answer only; the server keeps its SHA-256."""
    try:
        record, secret = store.create_token(
            db, scopes=body.scopes, description=body.description, actor=caller.actor
        )
    except ValueError as exc:
        raise ApiError(
            "validation_error", str(exc), errors=[{"path": "/body/scopes", "message": str(exc)}]
        ) from None
    return TokenCreated(**TokenPublic.model_validate(record).model_dump(), token=secret)


@router.get("", response_model=TokenList, summary="list tokens")
def list_tokens(caller: Admin, db: DbDep, include_revoked: bool = False) -> TokenList:
    """Every live token (and revoked ones with `include_revoked`), without secrets."""
    return TokenList(
        items=[
            TokenPublic.model_validate(t)
            for t in store.list_tokens(db, include_revoked=include_revoked)
        ]
    )


@router.delete("/{token_id}", response_model=TokenPublic, summary="revoke a token")
def revoke_token(token_id: TokenId, caller: Admin, db: DbDep) -> TokenPublic:
    """The token stops working at once; it stays listed with `include_revoked`."""
    return TokenPublic.model_validate(store.revoke_token(db, token_id=token_id, actor=caller.actor))
