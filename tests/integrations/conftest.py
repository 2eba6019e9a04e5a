"""Fixtures of the trainer integration tests: one real server for the session, an
isolated client cache per test, and no network for the frameworks (HF_HUB_OFFLINE)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stepsize

from tests.client.conftest import FAST
from tests.client.conftest import _isolated as _isolated  # autouse: a cache per test
from tests.support.live_server import LiveServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

# A warmup of a tenth of the run, then a cosine over the rest: the template both
# trainers bind to their run's length.
WARMUP_TEMPLATE = {
    "type": "warmup",
    "steps": "0.1dur",
    "schedule": {"type": "cosine", "start": 0.1, "steps": "0.9dur", "end": 0.001},
}


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
