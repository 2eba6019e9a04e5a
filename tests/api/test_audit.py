"""Every write lands in the audit log, with its actor; GET /v1/audit pages by cursor."""

from __future__ import annotations

import httpx

from tests.support.live_server import LiveServer

from .conftest import published


def test_writes_are_audited(live_server: LiveServer, admin: httpx.Client, ns: str) -> None:
    writer = live_server.create_token(f"write:{ns}", description="ci publisher")
    headers = {"Authorization": f"Bearer {writer}"}
    ref = f"/v1/schedules/{ns}/s"
    admin.post(
        f"{ref}/versions", json={"definition": {"type": "constant", "value": 0.1}}, headers=headers
    )
    admin.post(
        f"{ref}/versions", json={"definition": {"type": "constant", "value": 0.1}}, headers=headers
    )  # a no-op: not audited
    admin.put(f"{ref}/tags/prod", json={"version": 1}, headers=headers)
    admin.delete(f"{ref}/tags/prod", headers={**headers, "If-Match": "1"})
    admin.delete(ref, headers=headers)

    entries = admin.get("/v1/audit", params={"namespace": ns}).json()["items"]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("schedule.archive", f"{ns}/s"),
        ("tag.drop", f"{ns}/s:prod"),
        ("tag.set", f"{ns}/s:prod"),
        ("schedule.publish", f"{ns}/s@1"),
    ]
    assert all(e["actor"].endswith("(ci publisher)") for e in entries)
    assert all(e["namespace"] == ns and e["at"] for e in entries)
    assert entries[3]["detail"]["digest"].startswith("sha256:")


def test_token_writes_are_audited(admin: httpx.Client) -> None:
    created = admin.post("/v1/tokens", json={"scopes": ["read"], "description": "audited"}).json()
    admin.delete(f"/v1/tokens/{created['id']}")
    entries = admin.get("/v1/audit", params={"limit": 50}).json()["items"]
    targets = [(e["action"], e["target"]) for e in entries]
    assert ("token.revoke", f"token:{created['id']}") in targets
    assert ("token.create", f"token:{created['id']}") in targets
    assert all(created["token"] not in str(e) for e in entries)


def test_audit_pages_with_an_opaque_cursor(admin: httpx.Client, ns: str) -> None:
    for value in range(1, 6):
        published(admin, f"{ns}/s", {"type": "constant", "value": value / 10})
    seen, cursor = [], None
    while True:
        params = {"namespace": ns, "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = admin.get("/v1/audit", params=params).json()
        seen += [e["target"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"{ns}/s@{v}" for v in range(5, 0, -1)]
