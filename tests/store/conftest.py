"""A migrated SQLite database per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from stepsize_server.store import Database, upgrade


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path}/nested/dir/store.db")
    upgrade(database)
    return database
