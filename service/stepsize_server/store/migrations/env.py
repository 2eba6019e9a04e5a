"""alembic environment: runs on the connection handed over by `store.migrate.upgrade`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from stepsize_server.store.db import Database
from stepsize_server.store.schema import metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        db = Database(context.config.get_main_option("sqlalchemy.url") or "")
        with db.engine.connect() as conn:
            conn.execution_options(stepsize_write=True)
            _migrate(conn)
            conn.commit()
        return
    _migrate(connection)


def _migrate(connection: Connection) -> None:
    # Both SQLite and PostgreSQL roll DDL back with the transaction.
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
