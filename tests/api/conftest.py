"""Fixtures for the API tests: HTTP clients on the session's live server, a fresh
namespace per test, and an in-process app (TestClient) for fast unit tests."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from stepsize_server.app import create_app
from stepsize_server.settings import Settings

from tests.support.live_server import LiveServer

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def anon(live_server: LiveServer) -> Iterator[httpx.Client]:
    """A client without a token."""
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def admin(live_server: LiveServer) -> Iterator[httpx.Client]:
    """A client with the server's admin token."""
    headers = {"Authorization": f"Bearer {live_server.admin_token}"}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def ns(request: pytest.FixtureRequest) -> str:
    """A namespace of this test's own, so tests sharing the server do not interfere."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    if len(name) > 60:  # long ids (the [sqlite-...] parameters) stay distinct: add a digest
        name = name[:51].strip("-.") + "-" + hashlib.sha1(name.encode()).hexdigest()[:8]
    return name or "t"


@pytest.fixture
def make_client(new_database_url: Callable[[], str]) -> Iterator[Callable[..., TestClient]]:
    """An in-process app on a fresh database of the test's backend (SQLite, PostgreSQL):
    `make_client(public_read=False)`."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        fields = {
            "database_url": new_database_url(),
            "access_log": False,
            **overrides,
        }
        settings = Settings(**fields)
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def publish(
    client: httpx.Client | TestClient, ref: str, definition: dict[str, Any], **fields: Any
) -> httpx.Response:
    """POST a version; returns the raw response."""
    return client.post(f"/v1/schedules/{ref}/versions", json={"definition": definition, **fields})


def published(
    client: httpx.Client | TestClient, ref: str, definition: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """POST a version and assert it was stored (201 or 200); returns the body."""
    response = publish(client, ref, definition, **fields)
    assert response.status_code in (200, 201), response.text
    return response.json()


def problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert `response` is a problem+json document with `status` (and `code`)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "code"} <= body.keys()
    assert "Traceback" not in response.text
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture
def run_schedule(admin: httpx.Client, ns: str) -> tuple[str, str]:
    """A schedule with two versions, for runs: (ref, digest of version 1)."""
    first = published(admin, f"{ns}/s", {"type": "constant", "value": 0.1})
    published(admin, f"{ns}/s", {"type": "constant", "value": 0.2})
    return f"{ns}/s", first["digest"]
