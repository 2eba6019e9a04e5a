"""Fixtures of the `stepsize` command tests: one real server (SQLite) for the module, and
`stepsize`, which runs the installed console script as a subprocess against it.

Every run is checked for what every run must satisfy: no traceback, and a failure is
exactly one line on standard error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.live_server import LiveServer

# The console script installed next to this interpreter (`stepsize = stepsize.cli:main`).
STEPSIZE = str(Path(sys.executable).with_name("stepsize"))


@dataclass
class Result:
    """One finished run of the command."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Registry:
    """The server the command talks to, with an admin token."""

    server: LiveServer
    token: str

    @property
    def url(self) -> str:
        return self.server.url

    def env(self, **extra: str) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("STEPSIZE_")}
        return {**clean, "STEPSIZE_URL": self.url, "STEPSIZE_TOKEN": self.token, **extra}

    def publish(self, ref: str, definition: dict[str, Any]) -> int:
        """Publish over HTTP (independent of the command); the new version."""
        r = httpx.post(
            f"{self.url}/v1/schedules/{ref}/versions",
            json={"definition": definition},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        r.raise_for_status()
        return int(r.json()["version"])

    def summary(self, ref: str) -> dict[str, Any]:
        r = httpx.get(f"{self.url}/v1/schedules/{ref}")
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def values(self, ref: str, stop: int) -> list[float]:
        """The server's values of steps [0, stop) of `ns/name@v`, as JSON."""
        name, version = ref.split("@")
        r = httpx.get(
            f"{self.url}/v1/schedules/{name}/lr",
            params={"start": 0, "stop": stop, "version": version},
            headers={"Accept": "application/json"},
        )
        r.raise_for_status()
        result: list[float] = r.json()["lr"]
        return result


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with LiveServer(tmp_path_factory.mktemp("cli-server")) as server:
        yield Registry(server, server.admin_token)


@pytest.fixture
def stepsize(registry: Registry, tmp_path: Path) -> Callable[..., Result]:
    """`stepsize(*args, env=..., stdin=...)`: run the command against `registry`."""

    def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
        done = subprocess.run(
            [STEPSIZE, *args],
            env=env if env is not None else registry.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        result = Result(done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in result.err, result.err
        if result.code != 0 and result.err:  # a failure says why in exactly one line
            assert len(result.err.strip().splitlines()) == 1, result.err
        return result

    return run


@pytest.fixture
def write_json(tmp_path: Path) -> Callable[[str, Any], str]:
    """`write_json(name, document)`: a JSON file in the test's directory; its path."""

    def write(name: str, document: Any) -> str:
        path = tmp_path / name
        path.write_text(json.dumps(document))
        return str(path)

    return write
