"""Liveness, readiness and Prometheus metrics: open to everyone, for the infrastructure."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ..deps import DbDep, MetricsDep
from ..errors import ApiError
from ..models import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="liveness")
async def healthz() -> Response:
    """200 while the process serves requests."""
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"description": "the database is unreachable"}},
    summary="readiness",
)
async def readyz(db: DbDep) -> Response:
    """200 when the database answers `SELECT 1`, else 503."""
    try:
        await run_in_threadpool(db.ping)
    except SQLAlchemyError as exc:
        raise ApiError("unavailable", f"database unreachable: {type(exc).__name__}") from None
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics",
)
def metrics(metrics: MetricsDep) -> Response:
    """Request counts and latency histograms per route template, evaluations, and the
    compiled-version cache's hits and misses, in Prometheus text format."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
