"""Nothing shown to strangers (SPEC 6): tokens never reach the server's log, at any
level, and the audit log and the token list need a token even with public reads."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.support.live_server import LiveServer

PROBLEM_JSON = "application/problem+json"
DEFINITION = {"type": "constant", "value": 0.1}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"STEPSIZE_LOG_LEVEL": "DEBUG", "STEPSIZE_ACCESS_LOG": "true"}
    with LiveServer(tmp_path_factory.mktemp("secrets"), env=env) as live:
        yield live


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == code


def test_no_token_reaches_the_log_at_debug_level(server: LiveServer) -> None:
    admin = server.admin_token
    reader = server.create_token("read", description="reader")
    unknown = "ssz_" + secrets.token_urlsafe(32)
    malformed = "not-even-a-token-" + secrets.token_hex(8)
    used = [admin, reader, unknown, malformed]
    with httpx.Client(base_url=server.url, timeout=30) as client:

        def as_(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        created = client.post(
            "/v1/tokens", json={"scopes": ["write:sec"], "description": "ci"}, headers=as_(admin)
        )
        assert created.status_code == 201
        writer = created.json()["token"]
        used.append(writer)
        ref = "/v1/schedules/sec/s"
        assert client.post(
            f"{ref}/versions", json={"definition": DEFINITION}, headers=as_(writer)
        ).status_code == 201  # fmt: skip
        assert client.get(f"{ref}/lr", params={"step": 3}, headers=as_(reader)).status_code == 200
        _problem(client.get("/v1/schedules", headers=as_(unknown)), 401, "invalid_token")
        _problem(
            client.get("/v1/schedules", headers={"Authorization": malformed}), 401, "invalid_token"
        )
        _problem(client.get("/v1/tokens", headers=as_(reader)), 403, "forbidden")
        _problem(client.post(f"{ref}/versions", json={}, headers=as_(writer)), 422,
                 "validation_error")  # fmt: skip
        # A token in the query string (a client's mistake) is not logged either.
        client.get(f"{ref}/lr", params={"step": 3, "token": reader})
        assert client.delete(
            f"/v1/tokens/{created.json()['id']}", headers=as_(admin)
        ).status_code == 200  # fmt: skip
        _problem(client.get("/v1/schedules", headers=as_(writer)), 401, "invalid_token")
    server.stop()  # flush everything the process wrote
    server.start()
    log = server.log_path.read_text()
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    # The log did record these requests at DEBUG (else the check below proves nothing).
    assert any(r["level"] == "DEBUG" for r in records)
    assert sum(r.get("path") == f"{ref}/lr" for r in records) >= 2
    for token in used:
        assert token not in log
        # Not even most of it: the prefix the token list shows (8 characters) is all.
        assert token[:16] not in log


def test_the_audit_log_needs_a_token_even_with_public_reads(server: LiveServer) -> None:
    reader = server.create_token("read", description="auditor")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        anonymous = client.get("/v1/audit")
        _problem(anonymous, 401, "unauthorized")
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert "token" in anonymous.json()["detail"]
        assert "auditor" not in anonymous.text
        _problem(client.get("/v1/audit", headers={"Authorization": "Bearer ssz_x"}), 401,
                 "invalid_token")  # fmt: skip
        # Reads are public here, and any valid token reads the audit log.
        assert client.get("/v1/types").status_code == 200
        listed = client.get("/v1/audit", headers={"Authorization": f"Bearer {reader}"})
        assert listed.status_code == 200
        assert any(e["action"].startswith("token.") for e in listed.json()["items"])


def test_the_token_list_needs_an_admin_token(server: LiveServer) -> None:
    reader = server.create_token("read", description="not an admin")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        _problem(client.get("/v1/tokens"), 401, "unauthorized")
        for scope_token in (reader, server.create_token("write:*")):
            _problem(
                client.get("/v1/tokens", headers={"Authorization": f"Bearer {scope_token}"}),
                403,
                "forbidden",
            )
        listed = client.get("/v1/tokens", headers={"Authorization": f"Bearer {server.admin_token}"})
        assert listed.status_code == 200
        assert "not an admin" in listed.text and reader not in listed.text
