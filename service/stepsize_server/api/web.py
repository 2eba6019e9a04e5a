"""The web UI (GET /), its static files (GET /ui/...) and the API docs (/docs, /redoc),
all served from files inside the package: nothing is loaded from a CDN."""

from __future__ import annotations

import functools
from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

router = APIRouter(tags=["web"])
STATIC = "/ui"
VENDOR = f"{STATIC}/vendor"
FAVICON = f"{STATIC}/favicon.svg"
OPENAPI_URL = "/openapi.json"
# Revalidated on every load (ETag / Last-Modified answer 304), so an upgrade shows at once.
STATIC_CACHE = "no-cache"


@functools.cache
def page(name: str) -> str:
    """web/NAME, a page shipped in the package."""
    return files("stepsize_server.web").joinpath(name).read_text(encoding="utf-8")


@functools.cache
def static_files() -> StaticFiles:
    """The package's web/static folder; StaticFiles refuses paths that leave it."""
    return StaticFiles(packages=[("stepsize_server.web", "static")])


@router.get("/", response_class=HTMLResponse, summary="the web UI")
def index() -> HTMLResponse:
    """The schedules, their tags, versions and curves."""
    return HTMLResponse(page("index.html"))


@router.get(STATIC + "/{path:path}", include_in_schema=False)
async def static(path: str, request: Request) -> Response:
    """A file of the web UI or a vendored library. Answers 404 for anything
    else (a missing file, a folder, a path outside web/static)."""
    response = await static_files().get_response(path, request.scope)
    if response.status_code == 200:
        response.headers["Cache-Control"] = STATIC_CACHE
    return response


@router.get("/docs", include_in_schema=False)
def swagger_ui() -> HTMLResponse:
    """Swagger UI over /openapi.json, from the vendored swagger-ui-dist."""
    return get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title="stepsize API",
        swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=FAVICON,
    )


@router.get("/redoc", include_in_schema=False)
def redoc() -> HTMLResponse:
    """ReDoc over /openapi.json, from the vendored redoc 3 bundle. Our own page, not
    FastAPI's get_redoc_html: that loads the bundle as a classic script, and redoc 3 is an
    ES module (and needs its telemetry turned off)."""
    return HTMLResponse(page("redoc.html"))
