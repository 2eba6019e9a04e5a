"""The web UI and the plot over plain HTTP (moved from tests/api/test_operations.py):
the page shell, its script modules, and plot.svg's shape, caching and errors."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import httpx

from .conftest import publisher


def test_web_ui_and_plot(admin: httpx.Client, anon: httpx.Client, ns: str) -> None:
    page = anon.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    # The page is a shell; its script modules (served from the package) call the API.
    assert '<script type="module" src="/ui/app.js">' in page.text
    app_js = anon.get("/ui/app.js")
    assert app_js.status_code == 200 and "javascript" in app_js.headers["content-type"]
    modules = re.findall(r'from "\./([\w-]+\.js)"', app_js.text)
    assert modules
    scripts = "".join(anon.get(f"/ui/{module}").text for module in modules)
    assert "/v1/schedules" in scripts and "plot.svg" in scripts

    publisher(admin)(f"{ns}/s", {"type": "cosine", "start": 1e-3, "end": 1e-5, "steps": 1000})
    svg = anon.get(f"/v1/schedules/{ns}/s/plot.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    root = ET.fromstring(svg.text)
    polyline = root.find("{http://www.w3.org/2000/svg}polyline")
    assert polyline is not None
    points = polyline.get("points", "").split()
    assert len(points) == 1100  # stop defaults to horizon * 1.1
    log = anon.get(f"/v1/schedules/{ns}/s/plot.svg", params={"log": True, "stop": 50_000})
    assert "log scale" in log.text and log.headers["etag"] != svg.headers["etag"]
    pinned = anon.get(f"/v1/schedules/{ns}/s/plot.svg", params={"version": 1})
    assert pinned.headers["cache-control"].endswith("immutable")
    bad = anon.get(f"/v1/schedules/{ns}/s/plot.svg", params={"stop": 0})
    assert bad.status_code == 422, bad.text
    assert bad.headers["content-type"].startswith("application/problem+json")
    body = bad.json()
    assert body["status"] == 422 and {"type", "title", "detail", "code"} <= body.keys()
    assert "Traceback" not in bad.text
    assert body["errors"][0]["path"].endswith("stop"), body
