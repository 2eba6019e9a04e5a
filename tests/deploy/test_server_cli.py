"""`stepsize-server` as an operator runs it: which database a command uses, and worker
processes."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import psutil

from tests.support.live_server import LiveServer, server_python
from tests.support.postgres import PostgresCluster


def run_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STEPSIZE_")}
    return subprocess.run(
        [server_python(), "-m", "stepsize_server", *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_token_create_elsewhere_with_the_default_url_refuses_instead_of_a_new_file(
    tmp_path: Path,
) -> None:
    done = run_cli("token", "create", "--scope", "admin", cwd=tmp_path, env={})
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert f"no database at {tmp_path}/data/stepsize.db" in done.stderr
    assert "STEPSIZE_DATABASE_URL" in done.stderr and "migrate" in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created

    migrated = run_cli("migrate", cwd=tmp_path, env={})
    assert migrated.returncode == 0, migrated.stderr
    assert f"database: sqlite:///{tmp_path}/data/stepsize.db" in migrated.stderr
    made = run_cli("token", "create", "--scope", "admin", cwd=tmp_path, env={})
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("ssz_")
    assert f"database: sqlite:///{tmp_path}/data/stepsize.db" in made.stderr


def test_an_explicit_new_sqlite_file_is_created_with_a_warning(tmp_path: Path) -> None:
    env = {"STEPSIZE_DATABASE_URL": "sqlite:///./nested/new.db"}
    done = run_cli("token", "list", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert f"warning: {tmp_path}/nested/new.db does not exist yet" in done.stderr
    assert f"database: sqlite:///{tmp_path}/nested/new.db" in done.stderr


def test_commands_name_a_postgresql_database_without_its_password(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    url = postgres_cluster.create_database("cli")
    with_password = url.replace("stepsize@", "stepsize:hunter2@")  # trust auth ignores it
    done = run_cli("migrate", cwd=tmp_path, env={"STEPSIZE_DATABASE_URL": with_password})
    assert done.returncode == 0, done.stderr
    assert "database: postgresql://stepsize:***@127.0.0.1:" in done.stderr
    assert "hunter2" not in done.stderr
    postgres_cluster.drop_database(url)


def test_serve_runs_the_requested_number_of_workers(tmp_path: Path) -> None:
    with LiveServer(tmp_path, serve_args=("--workers", "2")) as server:
        assert server.process is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            workers = [
                child
                for child in psutil.Process(server.process.pid).children()
                if "--multiprocessing-fork" in child.cmdline()
            ]
            if len(workers) == 2:
                break
            time.sleep(0.1)
        assert len(workers) == 2, [c.cmdline() for c in workers]
        with httpx.Client(base_url=server.url) as http:
            assert all(http.get("/healthz").status_code == 200 for _ in range(50))
