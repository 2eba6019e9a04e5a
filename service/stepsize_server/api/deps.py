"""Dependencies declared once: the app's state and who is calling.

Every dependency is `async def`: FastAPI runs a plain `def` dependency in the thread
pool, a hop that costs more than the work of a cached lr query.

Authorization (SPEC 6): `Authorization: Bearer <token>`. A missing token is 401, a
token without the needed scope 403; a malformed, unknown or revoked token is 401 on
every route. Scopes: `read`; `write:<namespace>` and `write:*` (which also read);
`admin` (everything, including token management).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from ..observability.metrics import Metrics
from ..settings import Settings
from ..store.db import Database
from ..store.records import TokenRecord
from ..store.tokens import find_token
from ..version_cache import VersionCache
from .errors import ApiError
from .params import Namespace

ANONYMOUS = "anonymous"
# The OpenAPI security scheme's name; `READ_SECURITY` documents a route that reads
# (anonymous while public reads are on, else any token) without the `Reader` dependency.
BEARER = "bearer"
READ_SECURITY: list[dict[str, list[str]]] = [{}, {BEARER: []}]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_db(request: Request) -> Database:
    return request.app.state.db


async def get_cache(request: Request) -> VersionCache:
    return request.app.state.cache


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
CacheDep = Annotated[VersionCache, Depends(get_cache)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


@dataclass(frozen=True)
class Caller:
    """The authenticated token, or None for an anonymous caller."""

    token: TokenRecord | None

    @property
    def actor(self) -> str:
        return self.token.actor if self.token else ANONYMOUS

    def has(self, scope: str) -> bool:
        return self.token is not None and scope in self.token.scopes

    def can_write(self, namespace: str) -> bool:
        return self.has("admin") or self.has("write:*") or self.has(f"write:{namespace}")


async def current_caller(request: Request) -> Caller:
    """The caller of this request. Raises ApiError 401 for a malformed, unknown or revoked
    token; looks the token up in the database (in a worker thread) only when one is sent."""
    header = request.headers.get("authorization")
    if header is None:
        return Caller(token=None)
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise _unauthorized("invalid_token", "the Authorization header must be 'Bearer <token>'")
    token = await run_in_threadpool(find_token, request.app.state.db, secret=secret)
    if token is None:
        raise _unauthorized("invalid_token", "the token is unknown or revoked")
    return Caller(token=token)


CallerDep = Annotated[Caller, Depends(current_caller)]


async def require_read(request: Request) -> Caller:
    """Any caller when public reads are on; else any valid token. Raises ApiError 401."""
    if request.app.state.settings.public_read and "authorization" not in request.headers:
        return Caller(token=None)  # the hot path: no lookup, no await
    caller = await current_caller(request)
    if caller.token is None and not request.app.state.settings.public_read:
        raise _unauthorized("unauthorized", "this server requires a token to read")
    return caller


async def require_write(caller: CallerDep, namespace: Namespace) -> Caller:
    """A token with `write:<namespace>`, `write:*` or `admin`. Raises ApiError 401/403."""
    if caller.token is None:
        raise _unauthorized("unauthorized", f"writing to {namespace!r} needs a token")
    if not caller.can_write(namespace):
        raise ApiError(
            "forbidden",
            f"token {caller.token.id} has scopes {list(caller.token.scopes)}; writing to "
            f"namespace {namespace!r} needs write:{namespace}, write:* or admin",
        )
    return caller


async def require_admin(caller: CallerDep) -> Caller:
    """A token with `admin`. Raises ApiError 401/403."""
    if caller.token is None:
        raise _unauthorized("unauthorized", "this route needs an admin token")
    if not caller.has("admin"):
        raise ApiError(
            "forbidden",
            f"token {caller.token.id} has scopes {list(caller.token.scopes)}; this route "
            "needs admin",
        )
    return caller


Reader = Annotated[Caller, Depends(require_read)]
Writer = Annotated[Caller, Depends(require_write)]
Admin = Annotated[Caller, Depends(require_admin)]


def _unauthorized(code: str, detail: str) -> ApiError:
    return ApiError(code, detail, headers={"WWW-Authenticate": 'Bearer realm="stepsize"'})
