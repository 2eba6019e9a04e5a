"""A real stepsize server in a subprocess, for integration tests and benchmarks.

    from tests.support.live_server import LiveServer

    with LiveServer(tmp_path) as server:          # starts; waits for /readyz
        httpx.get(server.url + "/v1/types")
        token = server.admin_token                # made with `stepsize-server token create`
        server.restart()                          # same port, same database
        server.kill()                             # SIGKILL, like a crash

The server is `python -m stepsize_server serve` (uvicorn) on 127.0.0.1 with a free port and
a SQLite file in `directory`, or the database of `database_url`. `env` adds or overrides
STEPSIZE_* variables; `serve_args` are more options of `serve` (`("--workers", "2")`). Its
output goes to `directory/server.log`, quoted in the error when it fails to start. The
Python that runs it is `STEPSIZE_TEST_SERVER_PYTHON` when set (the
client's minimal-versions environment has no server installed and borrows the main
environment's), else this interpreter.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

START_TIMEOUT_S = 60.0


class ServerFailed(RuntimeError):
    """The server process exited or did not become ready in time."""


class LiveServer:
    """One server process; `start()` (or `with`) runs it, `stop()` ends it."""

    def __init__(
        self,
        directory: Path,
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
        database_url: str | None = None,
        serve_args: tuple[str, ...] = (),
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url or f"sqlite:///{self.directory / 'stepsize.db'}"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.directory / "server.log"
        self.env = {
            **os.environ,
            "STEPSIZE_DATABASE_URL": self.database_url,
            "STEPSIZE_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.serve_args = serve_args
        self.process: subprocess.Popen[bytes] | None = None
        self._admin_token: str | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> LiveServer:
        """Start the process and wait until /readyz answers 200.
        Raises ServerFailed (with the log) if it exits or takes over 60 s."""
        if self.process is not None:
            raise RuntimeError("already started")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    server_python(),
                    "-m",
                    "stepsize_server",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    *self.serve_args,
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )
        self._wait_ready()
        return self

    def stop(self) -> None:
        """SIGTERM (graceful shutdown), then SIGKILL after 10 s. No-op when stopped."""
        if self.process is None:
            return
        end_process(self.process, signal.SIGTERM)
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as in a crash: no shutdown code runs."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None

    def restart(self) -> LiveServer:
        """Stop (if running) and start again on the same port and database."""
        self.stop()
        return self.start()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers -----------------------------------------------------------------------

    @property
    def admin_token(self) -> str:
        """An admin token, created once with the CLI (`token create --scope admin`)."""
        if self._admin_token is None:
            self._admin_token = self.create_token("admin", description="live-server admin")
        return self._admin_token

    def create_token(self, *scopes: str, description: str = "") -> str:
        """A new token with `scopes`, made by `stepsize-server token create`."""
        args = ["token", "create", "--description", description]
        for scope in scopes:
            args += ["--scope", scope]
        return self.cli(*args).strip()

    def cli(self, *args: str) -> str:
        """Run `stepsize-server ARGS` against this server's database; its stdout.
        Raises subprocess.CalledProcessError (with stderr) on a non-zero exit."""
        done = subprocess.run(
            [server_python(), "-m", "stepsize_server", *args],
            env=self.env,
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise subprocess.CalledProcessError(
                done.returncode, done.args, output=done.stdout, stderr=done.stderr
            )
        return done.stdout

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise ServerFailed(f"server exited at start:\n{self._log_tail()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise ServerFailed(f"server not ready after {START_TIMEOUT_S} s:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        return log_tail(self.log_path)


def end_process(process: subprocess.Popen[bytes], graceful: signal.Signals) -> None:
    """Send `graceful`, wait up to 10 s, then SIGKILL; returns once the process is gone."""
    process.send_signal(graceful)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def log_tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def server_python() -> str:
    """The interpreter that runs `stepsize_server` (see the module docstring)."""
    return os.environ.get("STEPSIZE_TEST_SERVER_PYTHON") or sys.executable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
