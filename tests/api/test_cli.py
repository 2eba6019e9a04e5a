"""The stepsize-server command: tokens, migrate, load-demo, openapi."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from stepsize_server import demo
from stepsize_server.store import Database
from stepsize_server.store.tokens import find_token

from tests.support.live_server import LiveServer


@pytest.fixture
def offline(tmp_path: Path) -> LiveServer:
    """A LiveServer that is never started: only its CLI and database are used."""
    return LiveServer(tmp_path)


def test_token_create_prints_the_token_alone(offline: LiveServer) -> None:
    out = offline.cli(
        "token", "create", "--scope", "write:team", "--scope", "read", "--description", "ci"
    )
    assert out.endswith("\n") and out.count("\n") == 1
    secret = out.strip()
    assert secret.startswith("ssz_") and len(secret) > 40
    token = find_token(Database(offline.database_url), secret=secret)
    assert token is not None and token.scopes == ("write:team", "read")
    listing = offline.cli("token", "list")
    assert "write:team,read" in listing and "ci" in listing and secret not in listing

    offline.cli("token", "revoke", str(token.id))
    assert find_token(Database(offline.database_url), secret=secret) is None
    assert str(token.id) not in offline.cli("token", "list")
    assert "revoked" in offline.cli("token", "list", "--all")
    with pytest.raises(subprocess.CalledProcessError) as failed:
        offline.cli("token", "revoke", "999")
    assert "no token 999" in failed.value.stderr
    with pytest.raises(subprocess.CalledProcessError) as failed:
        offline.cli("token", "create", "--scope", "everything")
    assert "invalid scope" in failed.value.stderr


def test_migrate_is_idempotent(offline: LiveServer) -> None:
    offline.cli("migrate")
    offline.cli("migrate")


def test_load_demo_is_idempotent(offline: LiveServer) -> None:
    first = offline.cli("load-demo")
    assert first == ""  # progress goes to stderr
    db = Database(offline.database_url)
    lines = list(demo.load(db))
    assert len(lines) == len(demo.DEMOS)
    assert all(line.startswith(("unchanged", "skipped")) for line in lines), lines


def test_load_demo_skips_types_this_build_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unavailable = ("future", "a type from a later release", {"type": "keras.FutureDecay"})
    monkeypatch.setattr(demo, "DEMOS", (unavailable, *demo.DEMOS[:1]))
    db = Database(f"sqlite:///{tmp_path}/demo.db")
    from stepsize_server.store import upgrade

    upgrade(db)
    lines = list(demo.load(db))
    assert lines[0].startswith("skipped demo/future: ") and "keras.FutureDecay" in lines[0]
    assert lines[1].startswith("published demo/")


def test_demo_schedules_serve(tmp_path: Path) -> None:
    with LiveServer(tmp_path) as server:
        server.cli("load-demo")
        items = httpx.get(server.url + "/v1/schedules", params={"namespace": "demo"}).json()
        names = {s["name"] for s in items["items"]}
        assert {"cosine-min-lr", "llm-warmup-cosine", "resnet-piecewise"} <= names
        for name in names:
            r = httpx.get(
                f"{server.url}/v1/schedules/demo/{name}/lr", params={"step": 1500, "tag": "prod"}
            )
            assert r.status_code == 200 and r.json()["lr"] > 0
