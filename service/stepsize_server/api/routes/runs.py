"""Training runs (SPEC 4): register (POST /v1/runs), heartbeats, reads.

Who may do what (SPEC 6): registering and reading runs is a read (anonymous while public
reads are on, else any valid token): a training job only needs to read. The
registration answers a `key`, shown once and stored as a sha256 hash; a heartbeat needs
it in `X-Stepsize-Run-Key` (missing 401, wrong 403, whatever bearer token comes with it,
admin included: a run is written only by the job that registered it). The key is
checked before the run is looked up only as far as "is there one": a caller without a
key learns nothing about which runs exist (401), a caller with a wrong key learns that
the run exists (403), as any reader can by listing runs. A run is not a schedule write:
nothing is added to the audit log.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from starlette.concurrency import run_in_threadpool

from ...schedules import canonical_json
from ...store import runs as store
from ...store.errors import VersionNotFound
from ...store.schema import utcnow
from ...version_cache import PinnedVersion
from ..deps import CacheDep, DbDep, Reader, SettingsDep
from ..errors import ApiError
from ..pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, page
from ..params import URL_INTEGER, VERSION
from ..run_models import (
    RUN_ID_PATTERN,
    SCHEDULE_PATTERN,
    Heartbeat,
    HeartbeatAnswer,
    RunCreate,
    RunCreated,
    RunDetailPublic,
    RunList,
    RunPublic,
)
from ..values import select

router = APIRouter(prefix="/v1", tags=["runs"])

RUN_KEY_HEADER = "X-Stepsize-Run-Key"
RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN, description="a run's id (16 hex digits)")]
ScheduleQuery = Annotated[
    str, Query(pattern=SCHEDULE_PATTERN, max_length=129, description="namespace/name")
]
RunVersionQuery = Annotated[
    Annotated[int, VERSION.bounds(), URL_INTEGER] | None,
    Query(description="runs that pinned or now follow this version"),
]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_RUN_ID = re.compile(RUN_ID_PATTERN)


async def require_run_key(
    key: Annotated[
        str | None,
        Header(
            alias=RUN_KEY_HEADER,
            description="the `key` answered by the run's registration",
        ),
    ] = None,
) -> str:
    """The sha256 hex of the run key sent. Raises ApiError 401 when there is none."""
    if not key:
        raise ApiError(
            "unauthorized",
            f"a heartbeat needs the header {RUN_KEY_HEADER}: the key that registering the "
            "run answered (a bearer token does not write a run)",
        )
    return hash_key(key)


RunKeyHash = Annotated[str, Depends(require_run_key)]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@router.post(
    "/runs",
    response_model=RunCreated,
    status_code=201,
    summary="register a training run",
)
async def register_run(
    body: RunCreate, caller: Reader, db: DbDep, cache: CacheDep, settings: SettingsDep
) -> RunCreated:
    """Register the run a job starts on a pinned version: 201 with its `id` and `key`
    (shown this once). `digest` must be the version's, or for a run-length template the
    digest of its binding to `total_steps` (with `template_digest` the version's): else
    422 `digest_mismatch`. 404 for an unknown schedule or version."""
    namespace, name = body.schedule.split("/")
    pinned = cache.get(namespace, name, body.version)
    if pinned is None:
        pinned = await run_in_threadpool(cache.load, namespace, name, body.version)
    bound_definition = await _checked_binding(cache, pinned, body)
    key = secrets.token_urlsafe(24)
    new = store.NewRun(
        id=secrets.token_hex(8),
        key_hash=hash_key(key),
        namespace=namespace,
        name=name,
        version=body.version,
        digest=body.digest,
        template_digest=body.template_digest,
        bound_definition=bound_definition,
        total_steps=body.total_steps,
        steps_per_epoch=body.steps_per_epoch,
        world_size=body.world_size,
        framework=body.framework,
        host=body.host,
        pid=body.pid,
        follow=body.follow,
        actor=caller.actor,
        client_version=body.client_version,
        started_at=body.started_at,
    )
    record = await run_in_threadpool(store.register_run, db, new)
    return RunCreated(id=record.id, key=key, run=public(record, settings.run_stale_after))


async def _checked_binding(cache: CacheDep, pinned: PinnedVersion, body: RunCreate) -> str | None:
    """The canonical JSON of a template's binding to `body.total_steps` (None for an
    ordinary version) once the body's digests are those of what it runs. Raises ApiError
    422: `digest_mismatch`, `unbound_template` (a template without total_steps),
    `invalid_definition` (a binding that is invalid for that length)."""
    where = f"{pinned.schedule}@{pinned.version}"
    if not pinned.template:
        if body.digest != pinned.digest:
            raise _mismatch(
                "digest", f"{body.digest} is not the digest of {where} ({pinned.digest})"
            )
        if body.template_digest is not None:
            raise _mismatch("template_digest", f"{where} is not a run-length template: send null")
        return None
    selected = await select(
        cache,
        pinned,
        total_steps=body.total_steps,
        steps_per_epoch=body.steps_per_epoch,
        at="/body",
    )
    if body.template_digest != pinned.digest:
        raise _mismatch(
            "template_digest",
            f"{where} is a run-length template: template_digest must be its digest "
            f"{pinned.digest}, got {body.template_digest}",
        )
    if body.digest != selected.digest:
        raise _mismatch(
            "digest",
            f"{body.digest} is not the digest of {where} bound to total_steps="
            f"{body.total_steps} ({selected.digest})",
        )
    return canonical_json(selected.compiled.normalized)


def _mismatch(field: str, message: str) -> ApiError:
    return ApiError(
        "digest_mismatch", message, errors=[{"path": f"/body/{field}", "message": message}]
    )


@router.post(
    "/runs/{run_id}/heartbeat",
    response_model=HeartbeatAnswer,
    summary="report a run's progress and observations",
)
def heartbeat(
    run_id: RunId, body: Heartbeat, key_hash: RunKeyHash, db: DbDep, settings: SettingsDep
) -> HeartbeatAnswer:
    """Progress, status, the version followed now, counters (cumulative), the first
    mismatch (kept once set), sampled points (upserted by step) and events, in one
    transaction. Needs `X-Stepsize-Run-Key` (401 without, 403 wrong); 404 for an unknown
    run; 409 once the run is finished or failed; 422 for a current_version the schedule
    lacks. `points_dropped`/`events_dropped` count what did not fit under the run's caps."""
    beat = store.Beat(
        progress=body.progress,
        status=body.status,
        current_version=body.current_version,
        framework=body.framework,
        observed=body.observed,
        mismatches=body.mismatches,
        report_failures=body.report_failures,
        first_mismatch=None if body.first_mismatch is None else body.first_mismatch.model_dump(),
        points=body.points,
        events=[(e.kind, e.step, e.detail) for e in body.events],
    )
    try:
        result = store.heartbeat(db, run_id=run_id, key_hash=key_hash, beat=beat)
    except VersionNotFound as exc:
        message = f"current_version: {exc}"
        raise ApiError(
            "validation_error",
            message,
            errors=[{"path": "/body/current_version", "message": message}],
        ) from None
    return HeartbeatAnswer.model_validate(
        {
            **public_fields(result.run, settings.run_stale_after),
            "points_dropped": result.points_dropped,
            "events_dropped": result.events_dropped,
        }
    )


@router.get("/runs", response_model=RunList, summary="the runs of a schedule")
def list_runs(
    schedule: ScheduleQuery,
    caller: Reader,
    db: DbDep,
    settings: SettingsDep,
    version: RunVersionQuery = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> RunList:
    """Runs newest first; with `version`, those that pinned it or follow it now. 404 for
    an unknown schedule or version."""
    namespace, name = schedule.split("/")
    before = _decode_run_cursor(cursor) if cursor else None
    records = store.list_runs(
        db, namespace=namespace, name=name, version=version, limit=limit + 1, before=before
    )
    shown, next_cursor = page(
        records, limit, key=lambda r: [str((r.registered_at - _EPOCH) // _MICROSECOND), r.id]
    )
    now = utcnow()
    return RunList(
        items=[public(r, settings.run_stale_after, now=now) for r in shown],
        next_cursor=next_cursor,
    )


@router.get("/runs/{run_id}", response_model=RunDetailPublic, summary="one run")
def get_run(run_id: RunId, caller: Reader, db: DbDep, settings: SettingsDep) -> RunDetailPublic:
    """The run with its observed points (`[step, lr, expected]` by step) and its events
    (oldest first). 404 `run_not_found`."""
    detail = store.get_run(db, run_id=run_id)
    return RunDetailPublic.model_validate(
        {
            **public_fields(detail.run, settings.run_stale_after),
            "points": detail.points,
            "events": [dataclasses.asdict(e) for e in detail.events],
        }
    )


def public(
    record: store.RunRecord, stale_after_s: float, *, now: datetime | None = None
) -> RunPublic:
    """The answer's form of a run; `live` as of `now` (default: now)."""
    return RunPublic.model_validate(public_fields(record, stale_after_s, now=now))


def public_fields(
    record: store.RunRecord, stale_after_s: float, *, now: datetime | None = None
) -> dict[str, Any]:
    """RunPublic's fields of a run (and its record's namespace and name, which the models
    ignore: `schedule` says them)."""
    values = dataclasses.asdict(record)
    values.update(
        schedule=record.schedule,
        live=record.live(now or utcnow(), stale_after_s),
        bound_definition=None
        if record.bound_definition is None
        else json.loads(record.bound_definition),
    )
    return values


def _decode_run_cursor(cursor: str) -> tuple[datetime, str]:
    """(registration time, run id) inside a page cursor. Raises ApiError 422 for anything
    a page did not answer."""
    micros, run_id = decode_cursor(cursor, tuple)
    try:
        if not micros.isdigit() or not _RUN_ID.fullmatch(run_id):
            raise ValueError(cursor)
        return _EPOCH + int(micros) * _MICROSECOND, run_id
    except (ValueError, OverflowError):
        raise ApiError(
            "validation_error",
            "invalid cursor: pass the next_cursor of a previous page unchanged",
            errors=[{"path": "/query/cursor", "message": "invalid cursor"}],
        ) from None
