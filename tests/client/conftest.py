"""Fixtures of the client tests: an isolated cache per test, a fake registry, a real server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import stepsize
from stepsize import curves

from tests.support.live_server import LiveServer

from .fakes import COSINE, OPEN, PIECEWISE, TOKEN, WARMUP, FakeRegistry

# Short waits so that retry and outage tests take milliseconds.
FAST = stepsize.Retry(attempts=3, timeout=2.0, backoff=0.01, max_backoff=0.02)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own disk cache and an empty memory cache."""
    monkeypatch.setenv("STEPSIZE_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("STEPSIZE_OFFLINE", "STEPSIZE_TOKEN", "STEPSIZE_URL"):
        monkeypatch.delenv(name, raising=False)
    curves.forget_all()
    stepsize.set_default_client(None)
    yield
    curves.forget_all()
    stepsize.set_default_client(None)


@pytest.fixture
def fake() -> FakeRegistry:
    registry = FakeRegistry()
    registry.add("team/cosine", COSINE, tags={"prod": 1})
    registry.add("team/warmup", WARMUP)
    registry.add("team/piecewise", PIECEWISE)
    registry.add("team/open", OPEN)
    return registry


@pytest.fixture
def make_client(fake: FakeRegistry, tmp_path: Path) -> Callable[..., stepsize.Client]:
    """Clients of the fake registry sharing the test's disk cache."""

    def make(**kwargs: Any) -> stepsize.Client:
        kwargs.setdefault("retry", FAST)
        kwargs.setdefault("cache_dir", tmp_path / "cache")
        kwargs.setdefault("token", TOKEN)
        return stepsize.Client("http://registry.test", transport=fake.transport(), **kwargs)

    return make


@pytest.fixture
def client(make_client: Callable[..., stepsize.Client]) -> stepsize.Client:
    """A client of the fake registry, also used by restored shims in this process."""
    c = make_client()
    stepsize.set_default_client(c)
    return c


# -- the real server ---------------------------------------------------------------------

SCHEDULES = {
    "team/cosine": COSINE,
    "team/warmup": WARMUP,
    "team/piecewise": PIECEWISE,
    "team/open": OPEN,
}


@dataclass
class Live:
    """A running server with the SCHEDULES published (team/cosine tagged prod) and demos."""

    server: LiveServer
    token: str

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, **kwargs: Any) -> stepsize.Client:
        kwargs.setdefault("retry", FAST)
        kwargs.setdefault("token", self.token)
        return stepsize.Client(self.url, **kwargs)

    def registry_values(self, ref: str, stop: int) -> list[float]:
        """The server's values of steps [0, stop), as JSON: independent of the client."""
        parsed = stepsize.Ref.parse(ref)
        params: dict[str, Any] = {"start": 0, "stop": stop}
        if parsed.version is not None:
            params["version"] = parsed.version
        if parsed.tag is not None:
            params["tag"] = parsed.tag
        r = httpx.get(
            f"{self.url}{parsed.path}/lr", params=params, headers={"Accept": "application/json"}
        )
        r.raise_for_status()
        return r.json()["lr"]

    def request_count(self) -> float:
        """Requests the server counted on its /v1 routes but the runs' (Prometheus
        /metrics): what fetching schedules and values cost. Runs are reported by a
        background thread on their own connection (the heartbeats of every schedule this
        process pinned so far), which `Client.requests` does not count either."""
        return metric_requests(httpx.get(f"{self.url}/metrics").text)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a subprocess using this server (and the test's cache dir)."""
        return {**os.environ, "STEPSIZE_URL": self.url, "STEPSIZE_TOKEN": self.token, **extra}


def metric_requests(text: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if (
            line.startswith("stepsize_http_requests_total{")
            and 'route="/v1/' in line
            and 'route="/v1/runs' not in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def start_server(directory: Path) -> Live:
    server = LiveServer(directory).start()
    token = server.admin_token
    server.cli("load-demo")
    headers = {"Authorization": f"Bearer {token}"}
    for ref, definition in SCHEDULES.items():
        r = httpx.post(
            f"{server.url}/v1/schedules/{ref}/versions",
            json={"definition": definition},
            headers=headers,
        )
        r.raise_for_status()
    httpx.put(
        f"{server.url}/v1/schedules/team/cosine/tags/prod", json={"version": 1}, headers=headers
    ).raise_for_status()
    return Live(server, token)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One server for the session; tests that kill a server start their own (`own_server`)."""
    running = start_server(tmp_path_factory.mktemp("live"))
    try:
        yield running
    finally:
        running.server.stop()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Live]:
    running = start_server(tmp_path / "server")
    try:
        yield running
    finally:
        running.server.stop()
