"""Persistence: keyword-only functions over SQLAlchemy Core, for SQLite and PostgreSQL.

Every function takes the `Database` first and opens its own transaction; every write
records an audit entry in that same transaction. Errors are `store.errors.StoreError`s.
"""

from .db import Database
from .migrate import upgrade

__all__ = ["Database", "upgrade"]
