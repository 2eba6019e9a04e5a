"""Fixtures of the trainer integration tests: one real server for the session, an
isolated client cache per test, and no network for the frameworks (HF_HUB_OFFLINE)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stepsize
from stepsize import curves

from tests.support.live_server import LiveServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

FAST = stepsize.Retry(attempts=3, timeout=5.0, backoff=0.01, max_backoff=0.02)


class Registry:
    """The session's server: publish definitions, make clients."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.token = server.admin_token

    @property
    def url(self) -> str:
        return self.server.url

    def publish(self, ref: str, definition: dict[str, Any]) -> dict[str, Any]:
        r = httpx.post(
            f"{self.url}/v1/schedules/{ref}/versions",
            json={"definition": definition},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert r.status_code in (200, 201), r.text
        body: dict[str, Any] = r.json()
        return body

    def client(self, **kwargs: Any) -> stepsize.Client:
        kwargs.setdefault("retry", FAST)
        kwargs.setdefault("token", self.token)
        return stepsize.Client(self.url, **kwargs)

    def values(self, ref: str, stop: int, total_steps: int | None = None) -> list[float]:
        """The server's values of steps [0, stop) as JSON, independent of the client."""
        parsed = stepsize.Ref.parse(ref)
        params: dict[str, Any] = {"start": 0, "stop": stop, "total_steps": total_steps}
        if parsed.version is not None:
            params["version"] = parsed.version
        params = {k: v for k, v in params.items() if v is not None}
        r = httpx.get(f"{self.url}{parsed.path}/lr", params=params)
        assert r.status_code == 200, r.text
        values: list[float] = r.json()["lr"]
        return values


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    server = LiveServer(tmp_path_factory.mktemp("integrations-server")).start()
    try:
        yield Registry(server)
    finally:
        server.stop()


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
