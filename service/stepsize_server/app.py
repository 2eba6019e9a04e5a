"""create_app(settings) -> FastAPI: wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from . import __version__
from .api import errors
from .api.models import Problem
from .api.openapi import build_openapi
from .api.routes import ROUTERS
from .observability.metrics import Metrics
from .observability.middleware import (
    BodyLimitMiddleware,
    BodyTimeoutMiddleware,
    HeadLimitMiddleware,
    ObservabilityMiddleware,
)
from .settings import Settings
from .store import Database, upgrade
from .version_cache import VersionCache

DESCRIPTION = """\
stepsize stores learning-rate schedules by name, every version immutably, and answers
"what is the learning rate at step N?". Errors are `application/problem+json`.
Writes need `Authorization: Bearer <token>`; reads too when public reads are off."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application for `settings` (default: from the environment). Nothing connects
    until startup, which applies migrations when `settings.auto_migrate` is on."""
    settings = settings or Settings()
    db = Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        synchronous=settings.sqlite_synchronous,
    )
    cache = VersionCache(db, size=settings.cache_size)
    metrics = Metrics(cache)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auto_migrate:
            await run_in_threadpool(upgrade, db)
        yield
        db.dispose()

    app = FastAPI(
        title="stepsize",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        responses={"4XX": {"model": Problem, "description": "problem+json"}},
        # /docs and /redoc are api/web.py's, on vendored assets (FastAPI's load a CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.cache = cache
    app.state.metrics = metrics
    for router in ROUTERS:
        app.include_router(router)
    errors.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Outside the body limit: its chunked-body reading is under the deadline too.
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=settings.body_timeout)
    app.add_middleware(HeadLimitMiddleware, max_bytes=settings.max_header_bytes)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, access_log=settings.access_log)
    app.openapi = lambda: build_openapi(app, ROUTERS)  # type: ignore[method-assign]
    return app
