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

from .db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(db: Database) -> Config:
    """An alembic Config for `db` without any alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return config


def upgrade(db: Database) -> None:
    """Apply every pending migration in one write transaction (so concurrent starters
    on SQLite queue instead of racing). Raises alembic/sqlalchemy errors on failure."""
    config = alembic_config(db)
    with db.engine.connect() as conn:
        conn.execution_options(stepsize_write=True)
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
