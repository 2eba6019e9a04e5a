"""API tokens: random secrets shown once, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable

from sqlalchemy import Connection, insert, select, update

from . import audit as audit_log
from .db import Database, RowLike
from .errors import TokenNotFound
from .records import TokenRecord
from .schema import tokens, utcnow

TOKEN_PREFIX = "ssz_"
SCOPE_PATTERN = re.compile(r"^(read|admin|write:\*|write:[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?)$")


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes, deduplicated in order. Raises ValueError naming a malformed scope."""
    result: list[str] = []
    for scope in scopes:
        if not SCOPE_PATTERN.fullmatch(scope):
            raise ValueError(
                f"invalid scope {scope!r}: use read, write:<namespace>, write:* or admin"
            )
        if scope not in result:
            result.append(scope)
    if not result:
        raise ValueError("a token needs at least one scope")
    return tuple(result)


def create_token(
    db: Database, *, scopes: Iterable[str], description: str = "", actor: str
) -> tuple[TokenRecord, str]:
    """A new token and its secret (`ssz_...`), which is not stored and cannot be shown
    again. Raises ValueError for a malformed scope."""
    checked = check_scopes(scopes)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)

    def create(conn: Connection) -> TokenRecord:
        now = utcnow()
        token_id = conn.execute(
            insert(tokens)
            .values(
                token_hash=hash_token(secret),
                prefix=secret[:8],
                scopes=list(checked),
                description=description,
                created_at=now,
                created_by=actor,
            )
            .returning(tokens.c.id)
        ).scalar_one()
        audit_log.record(
            conn,
            actor=actor,
            action=audit_log.TOKEN_CREATE,
            target=f"token:{token_id}",
            detail={"scopes": list(checked), "description": description},
        )
        return TokenRecord(
            id=token_id,
            prefix=secret[:8],
            scopes=checked,
            description=description,
            created_at=now,
            created_by=actor,
        )

    return db.write(create), secret


def find_token(db: Database, *, secret: str) -> TokenRecord | None:
    """The live (not revoked) token with this secret, or None."""
    with db.read() as conn:
        row = (
            conn.execute(
                select(tokens).where(
                    tokens.c.token_hash == hash_token(secret), tokens.c.revoked_at.is_(None)
                )
            )
            .mappings()
            .first()
        )
    return None if row is None else _record(row)


def list_tokens(db: Database, *, include_revoked: bool = False) -> list[TokenRecord]:
    """Every token, oldest first, without secrets."""
    query = select(tokens).order_by(tokens.c.id)
    if not include_revoked:
        query = query.where(tokens.c.revoked_at.is_(None))
    with db.read() as conn:
        return [_record(r) for r in conn.execute(query).mappings()]


def revoke_token(db: Database, *, token_id: int, actor: str) -> TokenRecord:
    """Revoke a token; it stops working at once. Revoking twice is a no-op.
    Raises TokenNotFound."""

    def revoke(conn: Connection) -> TokenRecord:
        row = conn.execute(select(tokens).where(tokens.c.id == token_id)).mappings().first()
        if row is None:
            raise TokenNotFound(token_id)
        if row["revoked_at"] is None:
            conn.execute(update(tokens).where(tokens.c.id == token_id).values(revoked_at=utcnow()))
            audit_log.record(
                conn, actor=actor, action=audit_log.TOKEN_REVOKE, target=f"token:{token_id}"
            )
            row = conn.execute(select(tokens).where(tokens.c.id == token_id)).mappings().one()
        return _record(row)

    return db.write(revoke)


def _record(row: RowLike) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        prefix=row["prefix"],
        scopes=tuple(row["scopes"]),
        description=row["description"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        revoked_at=row["revoked_at"],
    )
