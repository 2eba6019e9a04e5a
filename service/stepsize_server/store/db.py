"""The database handle: one SQLAlchemy engine for SQLite or PostgreSQL.

SQLite runs in WAL mode with a busy timeout and `synchronous=FULL` by default: a commit
is on disk when it returns, so an acknowledged write survives a power loss, not only a
crash of the process (which NORMAL already survives in WAL mode). Write transactions start with
`BEGIN IMMEDIATE`, so two publishers never both read "max version = 3"; inside one
process they also queue on a lock, which wakes a waiter at once instead of relying on
SQLite's sleeping busy handler. PostgreSQL relies on `SELECT ... FOR UPDATE` in the store
functions instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from sqlalchemy import Connection, Engine, RowMapping, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

T = TypeVar("T")

# A table row by column name: a result row (`RowMapping`, whose keys SQLAlchemy types more
# broadly than `str`) or a plain mapping built in Python.
RowLike: TypeAlias = RowMapping | Mapping[str, Any]

# How often a write transaction is retried after a unique-constraint conflict or a
# serialization failure before the error is raised.
WRITE_ATTEMPTS = 5
SQLITE_BUSY_TIMEOUT_S = 30.0
# SQLite's `synchronous` pragma values we allow (see the module docstring).
SQLITE_SYNCHRONOUS = ("FULL", "NORMAL")


def normalize_url(url: str) -> str:
    """Map `postgresql://` and `postgres://` to the psycopg 3 driver SQLAlchemy needs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """An engine plus transaction helpers. Thread-safe; one per process.

    Creating it does not connect; the first query does (and creates the SQLite file's
    directory). Raises `sqlalchemy.exc.ArgumentError` for a malformed URL.
    """

    def __init__(self, url: str, *, pool_size: int = 10, synchronous: str = "FULL") -> None:
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.engine: Engine = (
            _sqlite_engine(self.url, pool_size, synchronous)
            if self.is_sqlite
            else (
                create_engine(
                    self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
                )
            )
        )
        self._write_lock = threading.Lock() if self.is_sqlite else None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction, rolled back on exit."""
        with self.engine.connect() as conn:
            yield conn

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(conn)` in a write transaction and commit; retry the whole transaction
        up to `WRITE_ATTEMPTS` times on a constraint conflict or a lock timeout.

        Raises what `fn` raises (the transaction is rolled back), or the last
        IntegrityError/OperationalError when every attempt conflicted. Blocks while
        another writer holds the database (SQLite: up to 30 s per attempt)."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self._write_lock or nullcontext(), self.engine.connect() as conn:
                    conn.execution_options(stepsize_write=True)
                    with conn.begin():
                        return fn(conn)
            except (IntegrityError, OperationalError) as exc:
                if attempt == WRITE_ATTEMPTS - 1 or not _retryable(exc):
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def ping(self) -> None:
        """Run `SELECT 1`. Raises sqlalchemy's DBAPIError when the database is unreachable."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close pooled connections (at shutdown)."""
        self.engine.dispose()


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    message = str(exc.orig).lower()
    return "locked" in message or "serializ" in message or "deadlock" in message


def _sqlite_engine(url: str, pool_size: int, synchronous: str) -> Engine:
    if synchronous not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {SQLITE_SYNCHRONOUS}; got {synchronous!r}")
    parsed = make_url(url)
    database = parsed.database or ""
    memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {
        "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    }
    if memory:
        kwargs["poolclass"] = StaticPool
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself (see the SQLite dialect
        # docs), so that write transactions can take the lock up front.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("stepsize_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
