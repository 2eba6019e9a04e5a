"""The migrations build exactly the tables of schema.py, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from stepsize_server.store import Database, upgrade
from stepsize_server.store.migrate import current_revision, head_revision
from stepsize_server.store.schema import metadata


def test_migrations_match_the_schema(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert current_revision(db) == head_revision(db)


def test_upgrade_is_idempotent_and_creates_the_directory(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/a/b/c.db")
    assert current_revision(db) is None
    upgrade(db)
    upgrade(db)
    assert (tmp_path / "a" / "b" / "c.db").exists()
    assert current_revision(db) == head_revision(db)


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/wal.db")
    upgrade(db)
    with db.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_postgres_urls_use_psycopg3() -> None:
    from stepsize_server.store.db import normalize_url

    assert normalize_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalize_url("postgres://h/db") == "postgresql+psycopg://h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
