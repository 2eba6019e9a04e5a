"""A throwaway PostgreSQL cluster for the tests: Debian's server binaries, a temporary
data directory, a free port on 127.0.0.1, no Unix socket.

    with PostgresCluster() as cluster:         # initdb + start; stop + remove on exit
        url = cluster.create_database()       # postgresql://stepsize@127.0.0.1:PORT/t1
        cluster.drop_database(url)

PostgreSQL refuses to run as root, so under root the cluster runs as the unprivileged
`postgres` user (Debian's package creates it; `make test` installs the package) and its
directory belongs to that user. It listens on loopback only, with `trust` auth, and trades
durability for speed (fsync off): it is for tests, and is deleted afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

from tests.support.live_server import free_port, log_tail

SUPERUSER = "stepsize"
START_TIMEOUT_S = 60


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here (install Debian's `postgresql`; `make test` does)."""


def server_binaries() -> Path:
    """The newest `/usr/lib/postgresql/<major>/bin` that has initdb and pg_ctl.
    Raises PostgresUnavailable when there is none."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if not candidates:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found under /usr/lib/postgresql: "
            "apt-get install postgresql (make test does this)"
        )
    return Path(candidates[-1]).parent


class PostgresCluster:
    """One `postgres` server process over a temporary data directory."""

    def __init__(self) -> None:
        self.bin = server_binaries()
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="stepsize-pg-"))
        self.data = self.directory / "data"
        self.log_path = self.directory / "server.log"
        self._run_as = _unprivileged_user()
        self._started = False
        self._counter = 0
        self._lock = threading.Lock()

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        """The URL of `database` in this cluster, as the server's settings take it."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresCluster:
        """initdb, then start and wait until it accepts connections.
        Raises subprocess.CalledProcessError (with the server log) on failure."""
        if self._run_as is not None:
            os.chown(self.directory, self._run_as.pw_uid, self._run_as.pw_gid)
        self._pg(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -h 127.0.0.1 -k '' -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=300"
        )
        try:
            self._pg(
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.log_path),
                "-o",
                options,
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "start",
            )
        except subprocess.CalledProcessError as exc:
            raise subprocess.CalledProcessError(
                exc.returncode, exc.cmd, output=exc.output, stderr=self._log_tail()
            ) from None
        self._started = True
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown, at most 60 s, then immediate) and delete the
        directory. Never raises: it runs at the end of every test session."""
        try:
            if self._started:
                try:
                    self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
                except subprocess.CalledProcessError:
                    self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", check=False)
                self._started = False
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def create_database(self, prefix: str = "t") -> str:
        """A new, empty database; its URL."""
        with self._lock:
            self._counter += 1
            name = f"{prefix}{self._counter}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database of `url`, closing its connections (FORCE)."""
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def __enter__(self) -> PostgresCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self._run_as is not None:
            kwargs.update(user=self._run_as.pw_uid, group=self._run_as.pw_gid, extra_groups=[])
        return subprocess.run(
            [str(self.bin / tool), *args],
            check=check,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S + 30,
            cwd=self.directory,
            **kwargs,
        )

    def _log_tail(self) -> str:
        return log_tail(self.log_path)


def _unprivileged_user() -> pwd.struct_passwd | None:
    """Who runs the server: None (ourselves) unless we are root, then `postgres`.
    Raises PostgresUnavailable when root has no such user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(
            "running as root and there is no 'postgres' user to run the server as: "
            "apt-get install postgresql (make test does this)"
        ) from None
