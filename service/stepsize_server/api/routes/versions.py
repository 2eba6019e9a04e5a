"""Versions: publish (an amendment included), list, read one, the amendments of one."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from ...schedules import (
    Compiled,
    EvaluationError,
    InvalidDefinition,
    compile_definition,
    is_template,
)
from ...schedules.amend import (
    amended_definition,
    check_not_template,
    check_prefix,
    continuation_pointer,
)
from ...schedules.evaluation import digest_of_normalized, normalize_template
from ...store import amendments as lineage_store
from ...store import versions as store
from ...store.db import Database
from ...store.records import Amends
from ...version_cache import PinnedVersion, VersionCache
from ..compute import COST_BUDGET, current_deadline, off_loop
from ..deps import CacheDep, Caller, DbDep, Reader, SettingsDep, Writer
from ..errors import ApiError, from_schedule_error
from ..models import (
    AmendmentItem,
    AmendmentList,
    AmendsCreate,
    AmendsPublic,
    Bound,
    LatestAmendment,
    VersionCreate,
    VersionItem,
    VersionList,
    VersionPublic,
)
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
    settings: SettingsDep,
) -> VersionPublic:
    """Validate, normalize and store the definition as the next version (201, Location).
    If its digest equals the latest version's, nothing is stored and that version is
    answered with 200. The schedule is created by its first version. A run-length
    template is checked by `check_template` (its parts must fit in the run, and its
    binding be valid at every plausible length) and stored with its durations.

    With `amends` (SPEC 4) the server builds the version: equal to `amends.version`
    before `amends.from_step`, `definition` at local step `step - from_step` from there
    (`schedules.amend`), checked bit for bit against the amended version before
    from_step. 404 for a missing amended version, 422 for a run-length template (either
    side) or an invalid result (pointers into /body/definition or /body/amends), 409
    `amendment_passed` naming the live followers already at or past the first step the
    amendment changes for them. A repeated amendment (same digest and link as the
    latest) answers 200 with that version."""
    if body.amends is not None:
        return await _amend(request, namespace, name, body, body.amends, response, caller,
                            db, cache, settings.run_stale_after)  # fmt: skip

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
    return _answer(response, cache.remember(result.record, compiled), result.created)


def _answer(response: Response, pinned: PinnedVersion, created: bool) -> VersionPublic:
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/schedules/{pinned.schedule}/versions/{pinned.version}"
    return public(pinned)


async def _amend(
    request: Request,
    namespace: str,
    name: str,
    body: VersionCreate,
    amends: AmendsCreate,
    response: Response,
    caller: Caller,
    db: Database,
    cache: VersionCache,
    stale_after_s: float,
) -> VersionPublic:
    """Build, check and store an amendment (see `publish`)."""
    base = cache.get(namespace, name, amends.version)
    if base is None:
        base = await run_in_threadpool(cache.load, namespace, name, amends.version)
    compiled = await off_loop(
        request, partial(build_amendment, base, amends.from_step, body.definition)
    )
    guard = partial(
        lineage_store.refuse_if_passed,
        schedule=f"{namespace}/{name}",
        amends_version=amends.version,
        from_step=amends.from_step,
        stale_after_s=stale_after_s,
    )
    try:
        result = await run_in_threadpool(
            partial(
                store.publish_version,
                db,
                namespace=namespace,
                name=name,
                definition=compiled.normalized,
                digest=compiled.digest,
                description=body.description,
                labels=body.labels,
                actor=caller.actor,
                amends=Amends(version=amends.version, from_step=amends.from_step),
                guard=guard,
            )
        )
    except lineage_store.AmendmentPassed as exc:
        runs = [
            {"id": r.id, "host": r.host, "current_version": r.current_version,
             "progress": r.progress, "from_step": r.from_step}
            for r in exc.passed[: lineage_store.MAX_NAMED_RUNS]
        ]  # fmt: skip
        raise ApiError(
            "amendment_passed", str(exc), extra={"runs": runs, "run_count": len(exc.passed)}
        ) from None
    return _answer(response, cache.remember(result.record, compiled), result.created)


def build_amendment(base: PinnedVersion, from_step: int, definition: Any) -> Compiled:
    """The compiled amendment of `base` from `from_step` with `definition`, checked (the
    publish grid, then `check_prefix`) under the request's budget and deadline.

    Raises ApiError 422: a template (`base`: at /body/amends/version; `definition`: at
    its durations), an invalid `definition` (at /body/definition/...), an invalid
    combination (e.g. nested too deep: at /body/definition/... or /body/amends), a
    check over budget (cost_too_large), values before from_step that differ (at
    /body/amends/from_step). EvaluationTimeout once the deadline has passed."""
    if base.template:
        raise ApiError(
            "validation_error",
            f"version {base.version} is a run-length template: an amendment cannot be "
            "built from one (its values before from_step depend on each run's total_steps)",
            errors=[{"path": "/body/amends/version", "message": "a run-length template"}],
        )
    deadline = current_deadline()
    try:
        check_not_template(definition, what="the continuation")
        continuation = compile_definition(definition, budget=COST_BUDGET, deadline=deadline)
    except InvalidDefinition as exc:
        raise from_schedule_error(exc, at="/body/definition") from None
    raw = amended_definition(base.record.definition, from_step, continuation.normalized)
    try:
        compiled = compile_definition(raw, budget=COST_BUDGET, deadline=deadline)
    except InvalidDefinition as exc:
        raise _located(exc, continuation_pointer(raw), from_step) from None
    try:
        check_prefix(base.compiled, compiled, from_step, budget=COST_BUDGET, deadline=deadline)
    except (EvaluationError, InvalidDefinition) as exc:
        raise from_schedule_error(exc, at="/body/amends/from_step") from None
    return compiled


def _located(exc: InvalidDefinition, continuation: str, from_step: int) -> ApiError:
    """An error of the combined definition with its pointers moved into the request:
    inside the continuation to /body/definition/..., anything else to /body/amends (an
    evaluation error to where its step lies); messages say it is the combination."""
    error = from_schedule_error(exc)
    located = []
    for item in exc.errors:
        path = item["path"]
        if path == continuation or path.startswith(continuation + "/"):
            at = "/body/definition" + path[len(continuation) :]
        elif isinstance(exc, EvaluationError):
            at = "/body/definition" if exc.step >= from_step else "/body/amends/version"
        else:
            at = "/body/amends" if path else "/body"
        located.append({"path": at, "message": f"in the amended definition: {item['message']}"})
    error.errors = located
    return error


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


@router.get(
    "/{namespace}/{name}/versions/{version}/amendments",
    response_model=AmendmentList,
    summary="the amendments of a version",
)
def list_amendments(
    namespace: Namespace,
    name: Name,
    version: VersionNumber,
    caller: Reader,
    db: DbDep,
    response: Response,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> AmendmentList:
    """Every version below `version` through amends links (amendments of it, of those,
    ...), oldest first, one page of `limit` (`count` in all, `next_cursor` for the
    rest), and `latest`: the newest of them, with its `path` from `version` and
    `from_step`, the min from_step along that path (the newest equals `version` at every
    step before it); null without amendments. `no-cache`: a new amendment may appear at
    any time. 404 for a missing schedule or version."""
    after = decode_cursor(cursor, int) if cursor else None
    found = lineage_store.lineage(
        db, namespace=namespace, name=name, version=version, limit=limit + 1, after=after
    )
    shown, next_cursor = page(found.descendants, limit, key=lambda d: d.version)
    response.headers["Cache-Control"] = "no-cache"
    latest = None
    if found.latest_path:
        assert found.latest_digest is not None and found.latest_from_step is not None
        latest = LatestAmendment(
            version=found.latest_path[-1],
            digest=found.latest_digest,
            from_step=found.latest_from_step,
            path=found.latest_path,
        )
    return AmendmentList(
        schedule=f"{namespace}/{name}",
        version=version,
        amendments=[AmendmentItem.model_validate(d) for d in shown],
        count=found.count,
        next_cursor=next_cursor,
        latest=latest,
    )


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
        amends=AmendsPublic.model_validate(record.amends) if record.amends else None,
    )
