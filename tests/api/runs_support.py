"""Helpers of the runs tests over HTTP (tests/api/test_runs*.py)."""

from __future__ import annotations

import json
from typing import Any

import httpx

KEY = "X-Stepsize-Run-Key"
CONSTANT = {"type": "constant", "value": 0.1}
TEMPLATE = {
    "type": "warmup",
    "steps": "0.1dur",
    "schedule": {"type": "cosine", "start": 0.1, "steps": "0.9dur"},
}


def registration(ref: str, digest: str, **fields: Any) -> dict[str, Any]:
    return {
        "schedule": ref,
        "version": 1,
        "digest": digest,
        "world_size": 4,
        "framework": "torch",
        "host": "node-1",
        "pid": 4242,
        "started_at": "2026-12-01T12:00:00+01:00",
        "client_version": "0.9.0",
        **fields,
    }


def post_json(
    client: httpx.Client,
    url: str,
    body: str | dict[str, Any],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST `body` as JSON text (as given, or dumped with `\\u` escapes: httpx refuses to
    encode a lone surrogate itself)."""
    text = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        url, content=text, headers={**(headers or {}), "content-type": "application/json"}
    )


def register(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/v1/runs", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def beat(
    client: httpx.Client, run: dict[str, Any], body: dict[str, Any], **headers: str
) -> httpx.Response:
    return client.post(
        f"/v1/runs/{run['id']}/heartbeat", json=body, headers={KEY: run["key"], **headers}
    )


def beaten(client: httpx.Client, run: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    answer = beat(client, run, body)
    assert answer.status_code == 200, answer.text
    return answer.json()
