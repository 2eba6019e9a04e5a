"""Fixtures for the web tests: Debian's chromium driven by playwright (never a downloaded
browser), with every request that is not to 127.0.0.1 blocked, HTTP clients on the
session's live server, a second server with public reads off, and screenshots."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.support.live_server import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TIMEOUT_MS = 20_000


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium (`apt-get install chromium`); a missing binary fails the tests,
    it is never downloaded."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class OfflinePage:
    """A page whose requests may only reach 127.0.0.1: anything else is aborted and
    recorded in `blocked`, and the page's JavaScript errors in `errors`."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.blocked: list[str] = []
        self.errors: list[str] = []
        page.route("**/*", self._only_local)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.set_default_timeout(TIMEOUT_MS)

    def _only_local(self, route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def shot(self, name: str, *, full_page: bool = True) -> Path:
        """A screenshot in tests/artifacts/NAME.png (of the whole page unless told not to:
        a bare SVG document has no page to scroll, and chromium stalls measuring one)."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def web(browser: Browser) -> Iterator[OfflinePage]:
    """A fresh browser context (empty sessionStorage) with the network cut off."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = OfflinePage(context.new_page())
    yield page
    context.close()
    assert page.errors == [], f"JavaScript errors: {page.errors}"
    assert page.blocked == [], f"requests that left 127.0.0.1: {page.blocked}"


@pytest.fixture
def ns(request: pytest.FixtureRequest) -> str:
    """A namespace of this test's own on the shared server."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return ("w-" + name)[:60].strip("-.")


@pytest.fixture
def admin(live_server: LiveServer) -> Iterator[httpx.Client]:
    """A client with the shared server's admin token."""
    headers = {"Authorization": f"Bearer {live_server.admin_token}"}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def private_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with STEPSIZE_PUBLIC_READ=false: every read needs a token."""
    directory = tmp_path_factory.mktemp("private-server")
    with LiveServer(directory, env={"STEPSIZE_PUBLIC_READ": "false"}) as server:
        yield server


Publish = Callable[..., dict[str, Any]]


def publisher(client: httpx.Client) -> Publish:
    """publish(ref, definition, description=None) -> the version resource; asserts 201."""

    def publish(ref: str, definition: dict[str, Any], description: str | None = None) -> Any:
        body: dict[str, Any] = {"definition": definition}
        if description:
            body["description"] = description
        answer = client.post(f"/v1/schedules/{ref}/versions", json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()

    return publish


@pytest.fixture
def anon(live_server: LiveServer) -> Iterator[httpx.Client]:
    """A client without a token on the shared server."""
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client
