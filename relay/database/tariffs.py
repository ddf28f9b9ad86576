"""The operator's tariff in the database (table `tariff`): read for the relay, the demo
and invoices, saved when the relay starts with tariff flags."""

from __future__ import annotations

from pathlib import Path

from protocol.billing import Tariff
from relay.database import Database, open_database
from relay.database.migrations import current_version
from relay.tariff import read_tariff_file

TARIFF_SCHEMA_VERSION = 2  # the schema version that has the `tariff` table


def tariff_of(database: Database, data_dir: Path | None = None) -> Tariff:
    """The tariff `database` keeps; for a ledger not yet migrated (opened read-only),
    `data_dir`'s tariff.json; else the defaults (1.40 EUR/min, 19 % VAT)."""
    if current_version(database.backend) >= TARIFF_SCHEMA_VERSION:
        return database.tariff()
    saved = read_tariff_file(data_dir) if data_dir is not None else None
    return saved or Tariff()


def load_tariff(data_dir: Path) -> Tariff:
    """The tariff of the SQLite ledger in `data_dir` (or the defaults)."""
    database = open_database(None, data_dir=data_dir)
    try:
        return database.tariff()
    finally:
        database.close()


def save_tariff(data_dir: Path, tariff: Tariff) -> None:
    """Keep `tariff` in the SQLite ledger in `data_dir`."""
    database = open_database(None, data_dir=data_dir)
    try:
        database.save_tariff(tariff)
    finally:
        database.close()
