"""Authorization over every route of the app (SPEC 6).

The classification below must name every (method, path) the app serves: a new route
fails `test_every_route_is_classified` until someone decides who may call it, and then
the other tests check that decision against a real server."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from stepsize_server.app import create_app
from stepsize_server.settings import Settings

from tests.support.live_server import LiveServer

from .conftest import problem, published

READ, WRITE, ADMIN, PUBLIC = "read", "write", "admin", "public"
# Any valid token, even while reads are public (SPEC 6: the audit log names tokens).
TOKEN = "token"
# Registering a run: whoever may read (201, not 200). Writing a run: only the holder of
# the key its registration answered (X-Stepsize-Run-Key), whatever bearer token is sent.
REGISTER, RUN_KEY = "register", "run-key"

ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/v1/schedules"): READ,
    ("GET", "/v1/schedules/{namespace}/{name}"): READ,
    ("DELETE", "/v1/schedules/{namespace}/{name}"): WRITE,
    ("POST", "/v1/schedules/{namespace}/{name}/versions"): WRITE,
    ("GET", "/v1/schedules/{namespace}/{name}/versions"): READ,
    ("GET", "/v1/schedules/{namespace}/{name}/versions/{version}"): READ,
    ("GET", "/v1/schedules/{namespace}/{name}/versions/{version}/amendments"): READ,
    ("PUT", "/v1/schedules/{namespace}/{name}/tags/{tag}"): WRITE,
    ("DELETE", "/v1/schedules/{namespace}/{name}/tags/{tag}"): WRITE,
    ("GET", "/v1/schedules/{namespace}/{name}/lr"): READ,
    ("POST", "/v1/schedules/{namespace}/{name}/lr"): READ,
    ("GET", "/v1/schedules/{namespace}/{name}/plot.svg"): READ,
    ("POST", "/v1/evaluate"): READ,
    ("POST", "/v1/validate"): READ,
    ("GET", "/v1/types"): READ,
    ("GET", "/v1/audit"): TOKEN,
    ("POST", "/v1/runs"): REGISTER,
    ("POST", "/v1/runs/{run_id}/heartbeat"): RUN_KEY,
    ("GET", "/v1/runs"): READ,
    ("GET", "/v1/runs/{run_id}"): READ,
    ("POST", "/v1/tokens"): ADMIN,
    ("GET", "/v1/tokens"): ADMIN,
    ("DELETE", "/v1/tokens/{token_id}"): ADMIN,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/ui/{path:path}"): PUBLIC,
}
NAMESPACE = "authz"
PARAMS = {
    "namespace": NAMESPACE,
    "name": "sched",
    "version": "1",
    "tag": "prod",
    "token_id": "1",
    "path": "favicon.svg",
    "run_id": "",  # the run the `tokens` fixture registers
}
BODIES = {
    "/v1/schedules/{namespace}/{name}/versions": {"definition": {"type": "constant", "value": 0.1}},
    "/v1/schedules/{namespace}/{name}/tags/{tag}": {"version": 1},
    "/v1/schedules/{namespace}/{name}/lr": {"steps": [1]},
    "/v1/evaluate": {"definition": {"type": "constant", "value": 0.1}, "step": 1},
    "/v1/validate": {"definition": {"type": "constant", "value": 0.1}},
    "/v1/tokens": {"scopes": ["read"]},
    "/v1/runs/{run_id}/heartbeat": {"progress": 1},
}
QUERIES = {
    "/v1/schedules/{namespace}/{name}/lr": {"step": "1"},
    "/v1/runs": {"schedule": f"{NAMESPACE}/sched"},
}


def run_body(digest: str) -> dict[str, object]:
    """A registration of a run of `authz/sched@1`, whose digest is `digest`."""
    return {
        "schedule": f"{NAMESPACE}/sched",
        "version": 1,
        "digest": digest,
        "world_size": 1,
        "framework": "torch",
        "host": "test-host",
        "follow": False,
        "started_at": "2026-12-01T00:00:00Z",
    }


def app_routes() -> list[tuple[str, str]]:
    """Every (method, path) of a fresh app; HEAD rides along with GET."""
    app = create_app(Settings(auto_migrate=False))
    found = []
    for route in iter_route_contexts(app.routes):
        assert route.path, route
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, route.path))
    assert found
    return found


def routes_of(kind: str) -> list[tuple[str, str]]:
    return [key for key, value in ROUTES.items() if value == kind]


def call(
    client: httpx.Client | TestClient, method: str, path: str, token: str | None
) -> httpx.Response:
    # A Starlette converter (`{path:path}`) is no format spec: drop it before formatting.
    url = re.sub(r"\{(\w+):\w+\}", r"{\1}", path).format(**PARAMS)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.request(
        method,
        url,
        json=BODIES.get(path) if method in ("POST", "PUT") else None,
        params=QUERIES.get(path),
        headers=headers,
    )


def test_every_route_is_classified() -> None:
    served = app_routes()
    unclassified = sorted(set(served) - set(ROUTES))
    assert not unclassified, f"classify these routes in ROUTES: {unclassified}"
    assert sorted(set(ROUTES) - set(served)) == [], "ROUTES names routes the app lacks"


@pytest.fixture(scope="module")
def tokens(live_server: LiveServer) -> dict[str, str]:
    admin_token = live_server.admin_token
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=live_server.url, headers=headers) as client:
        version = published(client, f"{NAMESPACE}/sched", {"type": "constant", "value": 0.1})
        run = client.post("/v1/runs", json=run_body(version["digest"]))
        assert run.status_code == 201, run.text
        PARAMS["run_id"] = run.json()["id"]
        BODIES["/v1/runs"] = run_body(version["digest"])
    return {
        "admin": admin_token,
        "read": live_server.create_token("read"),
        "other": live_server.create_token("write:elsewhere"),
        "writer": live_server.create_token(f"write:{NAMESPACE}"),
    }


def refuses_anonymous_and_unknown_tokens(client: httpx.Client, method: str, path: str) -> None:
    """401 `unauthorized` (naming the token, with WWW-Authenticate) without a token, 401
    `invalid_token` with an unknown one."""
    body = problem(call(client, method, path, None), 401, "unauthorized")
    assert "token" in body["detail"]
    assert call(client, method, path, None).headers["www-authenticate"].startswith("Bearer")
    problem(call(client, method, path, "ssz_not-a-real-token"), 401, "invalid_token")


@pytest.mark.parametrize(("method", "path"), routes_of(WRITE) + routes_of(ADMIN))
def test_writes_refuse_missing_and_wrong_scope_tokens(
    anon: httpx.Client, tokens: dict[str, str], method: str, path: str
) -> None:
    refuses_anonymous_and_unknown_tokens(anon, method, path)
    problem(call(anon, method, path, tokens["read"]), 403, "forbidden")
    problem(call(anon, method, path, tokens["other"]), 403, "forbidden")
    if ROUTES[(method, path)] == ADMIN:
        problem(call(anon, method, path, tokens["writer"]), 403, "forbidden")


@pytest.mark.parametrize(("method", "path"), routes_of(READ))
def test_reads_are_open_when_public_reads_are_on(
    anon: httpx.Client, tokens: dict[str, str], method: str, path: str
) -> None:
    response = call(anon, method, path, None)
    assert response.status_code == 200, (method, path, response.text)
    assert call(anon, method, path, tokens["read"]).status_code == 200
    # A token that is sent is checked, even where none is needed.
    problem(call(anon, method, path, "ssz_not-a-real-token"), 401, "invalid_token")


@pytest.mark.parametrize(("method", "path"), routes_of(TOKEN))
def test_token_routes_need_a_token_even_with_public_reads(
    anon: httpx.Client, tokens: dict[str, str], method: str, path: str
) -> None:
    refuses_anonymous_and_unknown_tokens(anon, method, path)
    for kind in ("read", "other", "writer", "admin"):
        response = call(anon, method, path, tokens[kind])
        assert response.status_code == 200, (method, path, kind, response.text)


def test_anyone_who_may_read_registers_a_run(anon: httpx.Client, tokens: dict[str, str]) -> None:
    ((method, path),) = routes_of(REGISTER)
    assert call(anon, method, path, None).status_code == 201
    for kind in ("read", "other", "writer", "admin"):
        assert call(anon, method, path, tokens[kind]).status_code == 201, kind
    problem(call(anon, method, path, "ssz_not-a-real-token"), 401, "invalid_token")


def test_a_run_is_written_only_with_its_key(anon: httpx.Client, tokens: dict[str, str]) -> None:
    ((method, path),) = routes_of(RUN_KEY)
    for kind in (None, "read", "writer", "admin"):
        response = call(anon, method, path, tokens[kind] if kind else None)
        assert response.status_code == 401, (kind, response.text)
        assert "X-Stepsize-Run-Key" in response.json()["detail"], response.text


@pytest.mark.parametrize(("method", "path"), routes_of(PUBLIC))
def test_operations_routes_are_always_open(anon: httpx.Client, method: str, path: str) -> None:
    assert call(anon, method, path, None).status_code == 200


def test_scoped_writer_can_write_its_namespace_only(
    anon: httpx.Client, tokens: dict[str, str]
) -> None:
    headers = {"Authorization": f"Bearer {tokens['writer']}"}
    definition = {"definition": {"type": "constant", "value": 0.3}}
    ok = anon.post(f"/v1/schedules/{NAMESPACE}/mine/versions", json=definition, headers=headers)
    assert ok.status_code == 201
    assert ok.json()["author"].startswith("token:")
    problem(anon.post("/v1/schedules/elsewhere/x/versions", json=definition, headers=headers), 403)


def test_private_server_needs_a_token_for_reads(make_client: Callable[..., TestClient]) -> None:
    from stepsize_server.store.tokens import create_token

    client = make_client(public_read=False)
    _, read_token = create_token(client.app.state.db, scopes=["read"], actor="test")
    _, admin_token = create_token(client.app.state.db, scopes=["admin"], actor="test")
    created = client.post(
        f"/v1/schedules/{NAMESPACE}/sched/versions",
        json={"definition": {"type": "constant", "value": 0.1}},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert created.status_code == 201
    digest = created.json()["digest"]
    headers = {"Authorization": f"Bearer {read_token}"}
    run = client.post("/v1/runs", json=run_body(digest), headers=headers)
    assert run.status_code == 201, run.text
    saved = PARAMS["run_id"], BODIES.get("/v1/runs")
    PARAMS["run_id"] = run.json()["id"]  # this app's run, for this test only
    BODIES["/v1/runs"] = run_body(digest)
    try:
        for method, path in routes_of(READ) + routes_of(TOKEN) + routes_of(REGISTER):
            problem(call(client, method, path, None), 401, "unauthorized")
            response = call(client, method, path, read_token)
            assert response.status_code in (200, 201), (method, path, response.text)
    finally:
        PARAMS["run_id"], BODIES["/v1/runs"] = saved
    for method, path in routes_of(PUBLIC):
        assert call(client, method, path, None).status_code == 200, path


def test_token_management_api(admin: httpx.Client, anon: httpx.Client) -> None:
    created = admin.post(
        "/v1/tokens", json={"scopes": ["write:tok-ns", "read"], "description": "ci"}
    )
    assert created.status_code == 201
    body = created.json()
    secret = body["token"]
    assert secret.startswith("ssz_") and body["prefix"] == secret[:8]
    listed = admin.get("/v1/tokens").json()["items"]
    mine = next(t for t in listed if t["id"] == body["id"])
    assert "token" not in mine and mine["scopes"] == ["write:tok-ns", "read"]
    assert secret not in admin.get("/v1/tokens").text

    headers = {"Authorization": f"Bearer {secret}"}
    definition = {"definition": {"type": "constant", "value": 0.1}}
    assert (
        anon.post("/v1/schedules/tok-ns/s/versions", json=definition, headers=headers).status_code
        == 201
    )
    revoked = admin.delete(f"/v1/tokens/{body['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    problem(
        anon.post("/v1/schedules/tok-ns/s/versions", json=definition, headers=headers),
        401,
        "invalid_token",
    )
    assert body["id"] not in [t["id"] for t in admin.get("/v1/tokens").json()["items"]]
    everyone = admin.get("/v1/tokens", params={"include_revoked": True}).json()["items"]
    assert body["id"] in [t["id"] for t in everyone]
    problem(admin.post("/v1/tokens", json={"scopes": ["root"]}), 422)
    problem(admin.post("/v1/tokens", json={"scopes": []}), 422)
    problem(admin.delete("/v1/tokens/999999"), 404, "token_not_found")
    problem(anon.get("/v1/schedules", headers={"Authorization": "Basic abc"}), 401)
