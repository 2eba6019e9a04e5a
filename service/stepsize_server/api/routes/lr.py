"""Learning rates of a stored schedule: one step, a range (JSON, .npy, CSV) or a list.

Handlers are `async def` on purpose: a pinned version is served from memory without a
thread hop; database lookups (tags, latest, first use of a version) and big ranges go to
the thread pool."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from starlette.responses import Response

from ..compute import checkpoint, needs_thread, off_loop
from ..deps import READ_SECURITY, CacheDep, DbDep, MetricsDep, Reader, require_read
from ..errors import ApiError
from ..fastparams import names, openapi_parameters, parse
from ..models import LrPoint, LrRange, LrSteps, LrStepsRequest
from ..negotiation import CSV, JSON, NPY, check_size, negotiate
from ..params import (
    LrQuery,
    Name,
    Namespace,
    StepsPerEpoch,
    TagQuery,
    TotalSteps,
    VersionQuery,
    check_selector,
)
from ..representations import (
    encode,
    etag,
    lr_headers,
    matches,
    not_modified,
    respond,
    stream_lr_range,
    streams,
)
from ..values import StepRange, evaluate, resolve, select, valid_steps

router = APIRouter(prefix="/v1/schedules", tags=["learning rates"])


_BINARY = {"schema": {"type": "string", "format": "binary"}}
VALUE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "values; headers X-Stepsize-Version, X-Stepsize-Digest, ETag, "
        "Cache-Control (immutable when pinned by version). For a run-length template "
        "(bound by total_steps=) X-Stepsize-Digest and `digest` are the bound "
        "definition's, X-Stepsize-Template-Digest and `template_digest` the version's, "
        "and `bound_digest` repeats the bound one",
        "content": {NPY: _BINARY, CSV: {"schema": {"type": "string"}}},
    },
    304: {"description": "If-None-Match matched the ETag"},
}


@router.get(
    "/{namespace}/{name}/lr",
    response_model=LrPoint | LrRange,
    responses=VALUE_RESPONSES,
    summary="learning rate at a step or over a range",
    openapi_extra={**openapi_parameters(LrQuery), "security": READ_SECURITY},
)
async def get_lr(request: Request) -> Response:
    """`step=N` answers `{schedule, version, digest, step, lr}` as JSON. `stop=` (with
    optional `start`, `stride`: Python's range) answers by Accept: JSON (<= 1,000,000
    values), `.npy` (float64, <= 10,000,000) or CSV (`step,lr`). A run-length template
    needs `total_steps=` (it binds it; 422 without)."""
    # The registry's hot path: parameters are validated in one step (see fastparams),
    # authorization is called directly rather than through FastAPI's dependency machinery
    # (the same function as every `Reader` route), and a pinned version is served from
    # memory.
    await require_read(request)
    namespace, name = names(request)
    query = parse(LrQuery, request)
    step, start, stop, stride = query.step, query.start, query.stop, query.stride
    version, tag, steps_per_epoch = query.version, query.tag, query.steps_per_epoch
    total_steps = query.total_steps
    state = request.app.state
    db, cache, metrics = state.db, state.cache, state.metrics
    check_selector(version, tag)
    if step is not None and (start is not None or stop is not None or stride is not None):
        raise _query_error("give either step= or start/stop/stride, not both", "step")
    if step is None and stop is None:
        raise _query_error("give step=N, or stop= (with optional start=, stride=)", "stop")
    pinned = await resolve(db, cache, namespace=namespace, name=name, version=version, tag=tag)
    chosen = await select(cache, pinned, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    compiled, digest = chosen.compiled, chosen.digest
    spe = "" if steps_per_epoch is None else str(steps_per_epoch)
    if step is not None:
        tag_value = etag(digest, f"step={step}&spe={spe}", JSON)
        headers = chosen.headers(lr_headers(pinned.version, digest, tag_value, version is not None))
        if matches(request.headers.get("if-none-match"), tag_value):
            return not_modified(headers)

        # One step skips the array bookkeeping of a range; on the event loop unless the
        # schedule is stepped (its first far query computes every step before it).
        if needs_thread(compiled, 1):

            def one() -> float:
                grid = np.array([step], dtype=np.int64)
                return float(
                    evaluate(compiled, grid, steps_per_epoch=steps_per_epoch,
                             metrics=metrics, kind="single")[0]
                )  # fmt: skip

            value = await off_loop(request, one)
        else:
            value = compiled.value(step, steps_per_epoch=steps_per_epoch)
            metrics.evaluated("single", 1)
        # Formatted directly (5x faster than json.dumps): names match NAME_PATTERN and the
        # digest is hex, so nothing needs escaping, and the value is finite (checked by
        # evaluate), so its repr is a JSON number.
        digests = chosen.digests().items()
        extra = b"".join(b',"%s":"%s"' % (k.encode(), v.encode()) for k, v in digests)
        body = b'{"schedule":"%s","version":%d,"digest":"%s","step":%d,"lr":%s%s}' % (
            pinned.schedule.encode(),
            pinned.version,
            digest.encode(),
            step,
            repr(value).encode(),
            extra,
        )
        return respond(body, JSON, headers)

    assert stop is not None
    steps = StepRange(start=start or 0, stop=stop, stride=stride or 1)
    media = negotiate(request.headers.get("accept"))
    check_size(steps.count, media)
    tag_value = etag(digest, f"{steps.query}&spe={spe}", media)
    headers = chosen.headers(lr_headers(pinned.version, digest, tag_value, version is not None))
    if matches(request.headers.get("if-none-match"), tag_value):
        return not_modified(headers)
    payload = {
        "schedule": pinned.schedule,
        "version": pinned.version,
        "digest": digest,
        **chosen.digests(),
        **steps.payload(),
    }
    if streams(media, steps.count):  # big .npy/CSV: computed and sent in chunks
        return await stream_lr_range(
            request, media, range(steps.start, steps.stop, steps.stride), compiled,
            steps_per_epoch=steps_per_epoch, metrics=metrics, headers=headers,
        )  # fmt: skip

    def compute() -> bytes:
        grid = steps.steps()
        values = evaluate(
            compiled, grid, steps_per_epoch=steps_per_epoch, metrics=metrics, kind="range"
        )
        checkpoint()
        return encode(media, payload, grid, values)

    if needs_thread(compiled, steps.count):
        return respond(await off_loop(request, compute), media, headers)
    return respond(compute(), media, headers)


@router.post(
    "/{namespace}/{name}/lr",
    response_model=LrSteps,
    responses=VALUE_RESPONSES,
    summary="learning rates at a list of steps",
)
async def post_lr(
    request: Request,
    namespace: Namespace,
    name: Name,
    body: LrStepsRequest,
    caller: Reader,
    db: DbDep,
    cache: CacheDep,
    metrics: MetricsDep,
    version: VersionQuery = None,
    tag: TagQuery = None,
    steps_per_epoch: StepsPerEpoch = None,
    total_steps: TotalSteps = None,
) -> Response:
    """`{"steps": [...]}` (at most 100,000) answers `{schedule, version, digest, steps, lr}`
    as JSON, or the values as `.npy`/CSV by Accept. A run-length template needs
    `total_steps=`."""
    check_selector(version, tag)
    media = negotiate(request.headers.get("accept"))
    pinned = await resolve(db, cache, namespace=namespace, name=name, version=version, tag=tag)
    chosen = await select(cache, pinned, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    compiled, digest = chosen.compiled, chosen.digest
    steps = valid_steps(body.steps, at="/body/steps").astype(np.int64)
    fingerprint = hashlib.blake2b(steps.tobytes(), digest_size=16).hexdigest()
    spe = "" if steps_per_epoch is None else str(steps_per_epoch)
    tag_value = etag(digest, f"steps={fingerprint}&spe={spe}", media)
    headers = chosen.headers(lr_headers(pinned.version, digest, tag_value, version is not None))
    payload = {
        "schedule": pinned.schedule,
        "version": pinned.version,
        "digest": digest,
        **chosen.digests(),
        "steps": steps.tolist(),
    }

    def compute() -> bytes:
        values = evaluate(
            compiled,
            steps,
            steps_per_epoch=steps_per_epoch,
            metrics=metrics,
            kind="steps",
        )
        checkpoint()
        return encode(media, payload, steps, values)

    if needs_thread(compiled, int(steps.size)):
        return respond(await off_loop(request, compute), media, headers)
    return respond(compute(), media, headers)


def _query_error(message: str, param: str) -> ApiError:
    """A 422 problem pointing at the query parameter `param`."""
    return ApiError(
        "validation_error", message, errors=[{"path": f"/query/{param}", "message": message}]
    )
