"""Fixtures of the client tests: an isolated cache per test and a fake registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import stepsize
from stepsize import cache

from .fakes import COSINE, OPEN, PIECEWISE, TOKEN, WARMUP, FakeRegistry

# Short waits so that retry and outage tests take milliseconds.
FAST = stepsize.Retry(attempts=3, timeout=2.0, backoff=0.01, max_backoff=0.02)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own disk cache and an empty memory cache."""
    monkeypatch.setenv("STEPSIZE_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("STEPSIZE_OFFLINE", "STEPSIZE_TOKEN", "STEPSIZE_URL"):
        monkeypatch.delenv(name, raising=False)
    cache.forget_all()
    stepsize.set_default_client(None)
    yield
    cache.forget_all()
    stepsize.set_default_client(None)


@pytest.fixture
def fake() -> FakeRegistry:
    registry = FakeRegistry()
    registry.add("team/cosine", COSINE, tags={"prod": 1})
    registry.add("team/warmup", WARMUP)
    registry.add("team/piecewise", PIECEWISE)
    registry.add("team/open", OPEN)
    return registry


@pytest.fixture
def make_client(fake: FakeRegistry, tmp_path: Path) -> Callable[..., stepsize.Client]:
    """Clients of the fake registry sharing the test's disk cache."""

    def make(**kwargs: Any) -> stepsize.Client:
        kwargs.setdefault("retry", FAST)
        kwargs.setdefault("cache_dir", tmp_path / "cache")
        kwargs.setdefault("token", TOKEN)
        return stepsize.Client("http://registry.test", transport=fake.transport(), **kwargs)

    return make


@pytest.fixture
def client(make_client: Callable[..., stepsize.Client]) -> stepsize.Client:
    """A client of the fake registry, also used by restored shims in this process."""
    c = make_client()
    stepsize.set_default_client(c)
    return c
