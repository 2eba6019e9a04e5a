"""/docs (Swagger UI) and /redoc render every operation with the network cut off: their
assets are vendored in the package, and any request that leaves 127.0.0.1 fails the test
(the `web` fixture aborts it and asserts none was made)."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.support.live_server import LiveServer

from .conftest import OfflinePage

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def operations(live_server: LiveServer) -> list[tuple[str, str]]:
    document = httpx.get(live_server.url + "/openapi.json", timeout=30).json()
    return [
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    ]


def test_swagger_ui_offline(web: OfflinePage, live_server: LiveServer) -> None:
    expected = operations(live_server)
    assert len(expected) > 10
    page = web.page
    page.goto(live_server.url + "/docs")
    blocks = page.locator(".opblock-summary")
    expect(blocks).to_have_count(len(expected))
    lr_path = page.locator(".opblock-summary-path", has_text="/v1/schedules/{namespace}/{name}/lr")
    expect(lr_path.first).to_be_visible()
    shown = {
        (
            block.locator(".opblock-summary-method").inner_text().lower(),
            block.locator(".opblock-summary-path").get_attribute("data-path"),
        )
        for block in blocks.all()
    }
    assert shown == set(expected)
    expect(page.locator(".info .title")).to_contain_text("stepsize")
    web.shot("docs")


def reveal(web: OfflinePage, selector: str, *, scrolls: int = 100) -> None:
    """Scroll the page down until `selector` is attached; fails if it never is."""
    for _ in range(scrolls):
        if web.page.locator(selector).count():
            return
        web.page.mouse.wheel(0, 1500)
        web.page.wait_for_timeout(100)
    expect(web.page.locator(selector).first).to_be_attached()


def test_redoc_offline(web: OfflinePage, live_server: LiveServer) -> None:
    document = httpx.get(live_server.url + "/openapi.json", timeout=30).json()
    operation_ids = [
        op["operationId"]
        for item in document["paths"].values()
        for method, op in item.items()
        if method in METHODS
    ]
    page = web.page
    page.goto(live_server.url + "/redoc")
    expect(page.locator("h1").first).to_contain_text("stepsize")
    # ReDoc links every operation from its tag's section: #/<tag>/<operationId>. It renders
    # the sections after the first few as they scroll into view (since the runs routes made
    # the document longer), so the page is scrolled down until each link is there.
    for operation_id in operation_ids:
        reveal(web, f'a[href$="/{operation_id}"]')
    web.shot("redoc")


def test_docs_assets_are_served_by_the_app(live_server: LiveServer) -> None:
    for path in ("/docs", "/redoc"):
        html = httpx.get(live_server.url + path, timeout=30).text
        assert "cdn." not in html and "googleapis" not in html and "https://" not in html
    for asset in (
        "/ui/vendor/swagger-ui/swagger-ui-bundle.js",
        "/ui/vendor/swagger-ui/swagger-ui.css",
        "/ui/vendor/redoc/redoc.standalone.js",
        "/ui/vendor/uplot/uPlot.iife.min.js",
        "/ui/vendor/uplot/LICENSE",
        "/ui/vendor/swagger-ui/LICENSE",
        "/ui/vendor/redoc/LICENSE",
    ):
        answer = httpx.get(live_server.url + asset, timeout=30)
        assert answer.status_code == 200, asset
        assert len(answer.content) > 500, asset
    for bad in ("/ui/../api/web.py", "/ui/%2e%2e/api/web.py", "/ui/vendor", "/ui/nope.js"):
        answer = httpx.get(live_server.url + bad, timeout=30)
        assert answer.status_code == 404, bad
        assert answer.headers["content-type"].startswith("application/problem+json"), bad
