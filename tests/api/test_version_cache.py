"""The compiled-version cache (stepsize_server.version_cache), between the store and the
routes: each definition compiled once, shared by digest, bounded as an LRU."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from stepsize_server.schedules import compile_definition
from stepsize_server.store import Database, versions
from stepsize_server.store.errors import VersionNotFound
from stepsize_server.version_cache import VersionCache


def put(db: Database, ref: str, value: float) -> None:
    namespace, name = ref.split("/")
    compiled = compile_definition({"type": "constant", "value": value})
    versions.publish_version(
        db,
        namespace=namespace,
        name=name,
        definition=compiled.normalized,
        digest=compiled.digest,
        description=None,
        labels={},
        actor="tester",
    )


def test_version_cache_compiles_once(make_client: Callable[..., TestClient]) -> None:
    db = make_client().app.state.db
    put(db, "a/s", 0.1)
    put(db, "b/s", 0.1)  # same digest as a/s@1
    cache = VersionCache(db, size=2)
    assert cache.get("a", "s", 1) is None
    first = cache.load("a", "s", 1)
    assert cache.get("a", "s", 1) is first
    other = cache.load("b", "s", 1)
    assert other.compiled is first.compiled  # shared by digest
    assert (cache.compiled.hits, cache.compiled.misses) == (1, 1)
    cache.load("a", "s", 1)
    put(db, "a/s", 0.2)
    cache.load("a", "s", 2)
    assert len(cache.versions) == 2  # LRU bound
    assert float(first.compiled.evaluate([10])[0]) == 0.1
    with pytest.raises(VersionNotFound):
        cache.load("a", "s", 9)


def test_remember_keeps_a_compiled_tree_only_for_its_digest(
    make_client: Callable[..., TestClient],
) -> None:
    db = make_client().app.state.db
    put(db, "a/s", 0.1)
    record = versions.get_version(db, namespace="a", name="s", version=1)
    cache = VersionCache(db, size=4)
    wrong = compile_definition({"type": "constant", "value": 0.5})
    pinned = cache.remember(record, wrong)  # another definition's tree is not trusted
    assert pinned.compiled is not wrong
    assert float(pinned.compiled.evaluate([0])[0]) == 0.1
    assert (pinned.schedule, pinned.version, pinned.digest) == ("a/s", 1, record.digest)


@pytest.mark.parametrize(
    "modules",
    [
        ("stepsize_server.version_cache", "stepsize_server.store"),
        ("stepsize_server.store", "stepsize_server.version_cache"),
        ("stepsize_server.observability.middleware", "stepsize_server.app"),
        ("stepsize_server.api.errors", "stepsize_server.app"),
    ],
)
def test_modules_import_in_any_order(modules: tuple[str, ...]) -> None:
    """A fresh interpreter imports these in this order (an import cycle would fail)."""
    code = "; ".join(f"import {module}" for module in modules)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
