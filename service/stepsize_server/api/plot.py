"""The curve of a stored schedule as SVG."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ..schedules import MAX_STEP
from ..web.plot import render_svg, sample_steps
from .compute import needs_thread, off_loop
from .deps import CacheDep, DbDep, MetricsDep, Reader
from .params import (
    URL_INTEGER,
    Name,
    Namespace,
    Param,
    StepsPerEpoch,
    TagQuery,
    TotalSteps,
    VersionQuery,
    check_selector,
)
from .representations import etag, lr_headers, matches, not_modified
from .values import evaluate, horizon_of, resolve, select

router = APIRouter(prefix="/v1/schedules", tags=["learning rates"])
SVG = "image/svg+xml"
DEFAULT_STOP = 10_000
PLOT_STOP = Param("end of the x axis (horizon * 1.1 or 10,000)", ge=1, le=MAX_STEP + 1)


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
        Annotated[int, PLOT_STOP.bounds(), URL_INTEGER] | None, PLOT_STOP.query()
    ] = None,
    log: Annotated[bool, Query(description="log-scale y axis")] = False,
    version: VersionQuery = None,
    tag: TagQuery = None,
    steps_per_epoch: StepsPerEpoch = None,
    total_steps: TotalSteps = None,
) -> Response:
    """The curve over [0, stop), sampled at up to 1,500 steps. A run-length template needs
    `total_steps=` (it binds it; 422 without)."""
    check_selector(version, tag)
    pinned = await resolve(db, cache, namespace=namespace, name=name, version=version, tag=tag)
    chosen = await select(cache, pinned, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    compiled, digest = chosen.compiled, chosen.digest
    if stop is None:
        h = horizon_of(compiled, steps_per_epoch=steps_per_epoch)
        stop = min(math.ceil(h * 1.1), MAX_STEP + 1) if h else DEFAULT_STOP
    tag_value = etag(digest, f"plot:stop={stop}&log={log}&spe={steps_per_epoch}", SVG)
    headers = chosen.headers(lr_headers(pinned.version, digest, tag_value, version is not None))
    if matches(request.headers.get("if-none-match"), tag_value):
        return not_modified(headers)
    steps = sample_steps(stop)
    title = f"{pinned.schedule}@{pinned.version}"
    if total_steps is not None and chosen.template_digest is not None:
        title += f" (total_steps={total_steps})"

    def draw() -> str:
        values = evaluate(
            compiled, steps, steps_per_epoch=steps_per_epoch, metrics=metrics, kind="plot"
        )
        return render_svg(steps, values, title=title, log=log)

    # A stepped (cumulative) schedule far out costs real CPU: off the event loop, bounded.
    svg = await off_loop(request, draw) if needs_thread(compiled, len(steps)) else draw()
    return Response(svg, media_type=SVG, headers=headers)
