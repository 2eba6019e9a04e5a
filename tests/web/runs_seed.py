"""Runs made through the real API for the web tests: register (POST /v1/runs with the
version's digest), heartbeat with the run's key (points whose lr is the API's, or not), and
an amendment published as a version with `amends`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

RUN_KEY_HEADER = "X-Stepsize-Run-Key"


def api_values(
    client: httpx.Client, ref: str, version: int, steps: list[int], **binding: int
) -> list[float]:
    """The API's lr of `ref@version` at `steps` (POST .../lr), bound by `binding`
    (total_steps=, steps_per_epoch=) if given."""
    params = {"version": version, **binding}
    answer = client.post(f"/v1/schedules/{ref}/lr", params=params, json={"steps": steps})
    assert answer.status_code == 200, answer.text
    return [float(v) for v in answer.json()["lr"]]


def amend(
    client: httpx.Client, ref: str, version: int, from_step: int, definition: dict[str, Any]
) -> dict[str, Any]:
    """Publish an amendment of `ref@version` from `from_step` on; the new version."""
    body = {"amends": {"version": version, "from_step": from_step}, "definition": definition}
    answer = client.post(f"/v1/schedules/{ref}/versions", json=body)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    assert made["amends"] == {"version": version, "from_step": from_step}, made
    return made


@dataclass
class SeededRun:
    """A registered run: its id and the key that writes it."""

    client: httpx.Client
    id: str
    key: str
    run: dict[str, Any]

    def beat(self, **body: Any) -> dict[str, Any]:
        """POST /v1/runs/{id}/heartbeat with the key; the run as the server answers it."""
        answer = self.client.post(
            f"/v1/runs/{self.id}/heartbeat", json=body, headers={RUN_KEY_HEADER: self.key}
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result


def register(client: httpx.Client, ref: str, version: int, **fields: Any) -> SeededRun:
    """POST /v1/runs for `ref@version` with its digest; `fields` override the defaults."""
    stored = client.get(f"/v1/schedules/{ref}/versions/{version}")
    assert stored.status_code == 200, stored.text
    body: dict[str, Any] = {
        "schedule": ref,
        "version": version,
        "digest": stored.json()["digest"],
        "total_steps": None,
        "steps_per_epoch": None,
        "world_size": 1,
        "framework": "torch",
        "host": "localhost",
        "pid": 4242,
        "follow": False,
        "started_at": datetime.now(UTC).isoformat(),
        "client_version": "0.1.0",
        **fields,
    }
    answer = client.post("/v1/runs", json=body)
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert "key_hash" not in made["run"] and "key" not in made["run"], made
    return SeededRun(client, made["id"], made["key"], made["run"])


def points_on_curve(
    client: httpx.Client, ref: str, version: int, steps: list[int], **binding: int
) -> list[list[Any]]:
    """Heartbeat points [step, lr, expected] whose lr is the API's value (no mismatch)."""
    values = api_values(client, ref, version, steps, **binding)
    return [[step, lr, lr] for step, lr in zip(steps, values, strict=True)]
