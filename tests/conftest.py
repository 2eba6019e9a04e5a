"""Shared fixtures. `live_server` is one real server (uvicorn subprocess, SQLite file) per
test session; see tests/support/live_server.py for the LiveServer API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.live_server import LiveServer


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A running server shared by the session's tests; use your own namespace per test."""
    with LiveServer(tmp_path_factory.mktemp("live-server")) as server:
        yield server
