"""A migrated database per test, on each backend (see `database_backend` in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from stepsize_server.store import Database, upgrade


@pytest.fixture
def db(new_database_url: Callable[[], str]) -> Iterator[Database]:
    database = Database(new_database_url())
    upgrade(database)
    yield database
    database.dispose()
