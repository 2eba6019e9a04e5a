"""Versions: publish, list, read one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from ...schedules import Compiled, InvalidDefinition, compile_definition, is_template
from ...schedules.evaluation import digest_of_normalized, normalize_template
from ...store import versions as store
from ...version_cache import PinnedVersion
from ..compute import COST_BUDGET, current_deadline, off_loop
from ..deps import CacheDep, DbDep, Reader, Writer
from ..errors import from_schedule_error
from ..models import Bound, VersionCreate, VersionItem, VersionList, VersionPublic
from ..pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, page
from ..params import Name, Namespace, StepsPerEpoch, TotalSteps, VersionNumber
from ..values import bound_for, horizon_of

router = APIRouter(prefix="/v1/schedules", tags=["versions"])


@router.post(
    "/{namespace}/{name}/versions",
    response_model=VersionPublic,
    response_model_exclude_defaults=True,  # `template`, `bound`: only for a template
    status_code=201,
    responses={200: {"model": VersionPublic, "description": "same digest as the latest"}},
    summary="publish a version",
)
async def publish(
    request: Request,
    namespace: Namespace,
    name: Name,
    body: VersionCreate,
    response: Response,
    caller: Writer,
    db: DbDep,
    cache: CacheDep,
) -> VersionPublic:
    """Validate, normalize and store the definition as the next version (201, Location).
    If its digest equals the latest version's, nothing is stored and that version is
    answered with 200. The schedule is created by its first version. A run-length
    template is checked by `check_template` (its parts must fit in the run, and its
    binding be valid at every plausible length) and stored with its durations."""

    def check() -> tuple[dict[str, Any], str, Compiled | None]:
        try:
            if is_template(body.definition):
                normalized = normalize_template(body.definition)
                return normalized, digest_of_normalized(normalized), None
            compiled = compile_definition(
                body.definition, budget=COST_BUDGET, deadline=current_deadline()
            )
        except InvalidDefinition as exc:
            raise from_schedule_error(exc, at="/body/definition") from None
        return compiled.normalized, compiled.digest, compiled

    # The publish-grid check is CPU work: in an evaluation thread, under the deadline.
    normalized, digest, compiled = await off_loop(request, check)
    result = await run_in_threadpool(
        store.publish_version,
        db,
        namespace=namespace,
        name=name,
        definition=normalized,
        digest=digest,
        description=body.description,
        labels=body.labels,
        actor=caller.actor,
    )
    pinned = cache.remember(result.record, compiled)
    response.status_code = 201 if result.created else 200
    response.headers["Location"] = (
        f"/v1/schedules/{namespace}/{name}/versions/{result.record.version}"
    )
    return public(pinned)


@router.get("/{namespace}/{name}/versions", response_model=VersionList, summary="list versions")
def list_versions(
    namespace: Namespace,
    name: Name,
    caller: Reader,
    db: DbDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> VersionList:
    """Versions newest first, without their definitions."""
    before = decode_cursor(cursor, int) if cursor else None
    records = store.list_versions(
        db, namespace=namespace, name=name, limit=limit + 1, before=before
    )
    shown, next_cursor = page(records, limit, key=lambda r: r.version)
    return VersionList(
        schedule=f"{namespace}/{name}",
        items=[VersionItem.model_validate(r) for r in shown],
        next_cursor=next_cursor,
    )


@router.get(
    "/{namespace}/{name}/versions/{version}",
    response_model=VersionPublic,
    response_model_exclude_defaults=True,  # `template`, `bound`: only for a template
    summary="one version with its definition",
)
async def get_version(
    namespace: Namespace,
    name: Name,
    version: VersionNumber,
    caller: Reader,
    cache: CacheDep,
    steps_per_epoch: StepsPerEpoch = None,
    total_steps: TotalSteps = None,
) -> VersionPublic:
    """The normalized definition, digest, author, time, description, labels and horizon
    (immutable, so served from the in-memory cache after the first request). An `epochs`
    schedule without its own steps_per_epoch has a horizon only given `steps_per_epoch`.
    A run-length template (`template: true`) given `total_steps` also shows its binding
    (`bound`: definition, digest, horizon); an invalid binding is a 422."""
    pinned = cache.get(namespace, name, version)
    if pinned is None:
        pinned = await run_in_threadpool(cache.load, namespace, name, version)
    answer = public(pinned, steps_per_epoch=steps_per_epoch)
    if pinned.template and total_steps is not None:
        compiled = await run_in_threadpool(bound_for, cache, pinned, total_steps, steps_per_epoch)
        answer.bound = Bound(
            total_steps=total_steps,
            steps_per_epoch=steps_per_epoch,
            definition=compiled.normalized,
            digest=compiled.digest,
            horizon=horizon_of(compiled, steps_per_epoch=steps_per_epoch),
        )
    return answer


def public(pinned: PinnedVersion, *, steps_per_epoch: int | None = None) -> VersionPublic:
    """The answer's form of a cached version; its horizon given `steps_per_epoch` (none
    for a template: it depends on the run's length)."""
    record = pinned.record
    return VersionPublic(
        schedule=record.schedule,
        version=record.version,
        digest=record.digest,
        definition=record.definition,
        author=record.author,
        created_at=record.created_at,
        description=record.description,
        labels=record.labels,
        horizon=None
        if pinned.template
        else horizon_of(pinned.compiled, steps_per_epoch=steps_per_epoch),
        template=pinned.template,
    )
