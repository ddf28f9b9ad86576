"""Fixtures for the database layer: `store` runs a test once on SQLite and once on a real
PostgreSQL; `store.open()` is one relay's database object (open several for several
relays on the same data)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from relay.database import Database, DatabaseUnavailable, open_database

WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05
T = TypeVar("T")


@dataclass
class Store:
    kind: str  # "sqlite" or "postgresql"
    url: str | None
    data_dir: Path
    opened: list[Database] = field(default_factory=list)

    def open(self, data_dir: Path | None = None, **options: object) -> Database:
        """A database object on this store; each PostgreSQL relay has a data dir of its own,
        SQLite relays share the store's (the ledger file is in it)."""
        if self.url is None:
            data_dir = self.data_dir
        database = open_database(self.url, data_dir=data_dir or self.data_dir, **options)  # type: ignore[arg-type]
        self.opened.append(database)
        return database

    def close_all(self) -> None:
        for database in self.opened:
            database.close()
        self.opened.clear()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    found = Store(request.param, url, tmp_path / "data")
    try:
        yield found
    finally:
        found.close_all()


def when_available(function: Callable[..., T], *args: object) -> T:
    """`function(*args)` once the database answers again (after an outage a database
    object waits RETRY_SECONDS before it tries again); bounded by WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            return function(*args)
        except DatabaseUnavailable:
            if time.monotonic() > deadline:
                raise
        threading.Event().wait(POLL_SECONDS)
