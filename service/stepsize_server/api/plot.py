"""The curve of a stored schedule as SVG."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ..schedules import MAX_STEP
from ..web.plot import render_svg, sample_steps
from .deps import CacheDep, DbDep, MetricsDep, Reader
from .params import Name, Namespace, StepsPerEpoch, TagQuery, VersionQuery, check_selector
from .representations import etag, lr_headers, matches, not_modified
from .values import evaluate, horizon_of, resolve

router = APIRouter(prefix="/v1/schedules", tags=["learning rates"])
SVG = "image/svg+xml"
DEFAULT_STOP = 10_000


@router.get(
    "/{namespace}/{name}/plot.svg",
    response_class=Response,
    responses={200: {"content": {SVG: {"schema": {"type": "string"}}}, "description": "SVG"}},
    summary="the curve as SVG",
)
async def plot(
    request: Request,
    namespace: Namespace,
    name: Name,
    caller: Reader,
    db: DbDep,
    cache: CacheDep,
    metrics: MetricsDep,
    stop: Annotated[
        int | None,
        Query(ge=1, le=MAX_STEP + 1, description="end of the x axis (horizon * 1.1 or 10,000)"),
    ] = None,
    log: Annotated[bool, Query(description="log-scale y axis")] = False,
    version: VersionQuery = None,
    tag: TagQuery = None,
    steps_per_epoch: StepsPerEpoch = None,
) -> Response:
    """The curve over [0, stop), sampled at up to 1,500 steps."""
    check_selector(version, tag)
    pinned = await resolve(db, cache, namespace=namespace, name=name, version=version, tag=tag)
    if stop is None:
        h = horizon_of(pinned.compiled, steps_per_epoch=steps_per_epoch)
        stop = min(math.ceil(h * 1.1), MAX_STEP + 1) if h else DEFAULT_STOP
    tag_value = etag(pinned.digest, f"plot:stop={stop}&log={log}&spe={steps_per_epoch}", SVG)
    headers = lr_headers(pinned.version, pinned.digest, tag_value, version is not None)
    if matches(request.headers.get("if-none-match"), tag_value):
        return not_modified(headers)
    steps = sample_steps(stop)
    values = evaluate(
        pinned.compiled, steps, steps_per_epoch=steps_per_epoch, metrics=metrics, kind="plot"
    )
    title = f"{pinned.schedule}@{pinned.version}"
    return Response(
        render_svg(steps, values, title=title, log=log), media_type=SVG, headers=headers
    )
