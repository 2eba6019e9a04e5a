"""Schema migrations with alembic, configured in code and shipped inside the package.

A new migration is a file in `migrations/versions/` (copy the latest one: `revision`,
`down_revision`, `upgrade()`); `tests/store/test_migrations.py` fails until the
migrations produce exactly the tables of `schema.py`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from .db import Database

MIGRATIONS = Path(__file__).parent / "migrations"

# The key of the PostgreSQL advisory lock that serializes migrations: replicas starting
# together on one database queue on it, and each finds the schema at head once it has it.
# Any fixed 64-bit number works; this one is "stepsize" in ASCII.
MIGRATION_LOCK_KEY = 0x7374657073697A65


def alembic_config(db: Database) -> Config:
    """An alembic Config for `db` without any alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return config


def upgrade(db: Database) -> None:
    """Apply every pending migration in one write transaction, so that several processes
    starting together on one database queue instead of racing: SQLite takes its write lock
    up front (BEGIN IMMEDIATE), PostgreSQL a transaction-scoped advisory lock, released at
    commit or rollback. Raises alembic/sqlalchemy errors on failure (nothing is applied);
    blocks while another process migrates."""
    config = alembic_config(db)
    with db.engine.connect() as conn:
        conn.execution_options(stepsize_write=True)
        if not db.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        conn.commit()


def current_revision(db: Database) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(db: Database) -> str | None:
    """The newest revision shipped with this package."""
    return ScriptDirectory.from_config(alembic_config(db)).get_current_head()
