"""GET /: the web UI (a static page that reads the API)."""

from __future__ import annotations

import functools
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["web"])


@functools.cache
def index_html() -> str:
    return files("stepsize_server.web").joinpath("index.html").read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse, summary="the web UI")
def index() -> HTMLResponse:
    """The schedules, their tags, versions and curves."""
    return HTMLResponse(index_html())
