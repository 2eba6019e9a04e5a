"""Shared fixtures.

The database is one parametrized fixture: every test that asks for `database_backend`
(directly, or through `new_database_url`, `live_server`, the store's `db` or the API's
`make_client`) runs twice, on SQLite and on PostgreSQL; ids end in `[sqlite]` or
`[postgresql]`. The PostgreSQL cluster is started once per session, only when a test needs
it, and removed at the end whatever happened (tests/support/postgres.py).

`live_server` is one real server (uvicorn subprocess) per test session and backend; see
tests/support/live_server.py for the LiveServer API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.live_server import LiveServer

if TYPE_CHECKING:
    from tests.support.postgres import PostgresCluster

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The session's throwaway PostgreSQL cluster (started on first use)."""
    # Imported here: psycopg is not in the client's minimal test environment.
    from tests.support.postgres import PostgresCluster

    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session", params=BACKENDS)
def database_backend(request: pytest.FixtureRequest) -> str:
    """The backend this test runs on: "sqlite" or "postgresql"."""
    return str(request.param)


@pytest.fixture
def new_database_url(
    database_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty databases of this test's backend: a new SQLite file in
    the test's directory, or a new database in the session's cluster (dropped after)."""
    made: list[str] = []
    cluster: PostgresCluster | None = None
    if database_backend == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")

    def new() -> str:
        if cluster is None:
            url = f"sqlite:///{tmp_path}/db{len(made)}.db"
        else:
            url = cluster.create_database()
        made.append(url)
        return url

    yield new
    if cluster is not None:
        for url in made:
            cluster.drop_database(url)


@pytest.fixture(scope="session")
def session_database_url(
    database_backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> str:
    """One database of this backend for the whole session (the live server's)."""
    if database_backend == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        return cluster.create_database("live")
    return f"sqlite:///{tmp_path_factory.mktemp('live-db')}/stepsize.db"


@pytest.fixture(scope="session")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, session_database_url: str
) -> Iterator[LiveServer]:
    """A running server shared by the session's tests; use your own namespace per test."""
    directory = tmp_path_factory.mktemp("live-server")
    with LiveServer(directory, database_url=session_database_url) as server:
        yield server
