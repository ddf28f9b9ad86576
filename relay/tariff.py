"""The operator's tariff: kept in the database (table `tariff`), set by relay flags.

The relay saves the tariff when started with tariff flags and sends it to host and viewer,
so their live cost uses the same numbers as the invoice; `fernwartung invoice` reads the
same row (its own --rate/--vat flags override it for one run). Data dirs of older code
kept it in `tariff.json`: migrating such a data dir reads the file into the database once
(the file is left as it was and not read again).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from protocol.billing import Rounding, Tariff

if TYPE_CHECKING:
    from relay.database import Database

TARIFF_FILE = "tariff.json"
TARIFF_SCHEMA_VERSION = 2  # the schema version that has the `tariff` table


def parse_amount(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"{what} must be a number such as 1.40") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} must be a number of zero or more")
    return value


def read_tariff_file(data_dir: Path) -> Tariff | None:
    """The tariff.json of a data dir of older code, if there is one."""
    path = data_dir / TARIFF_FILE
    if not path.exists():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Tariff(
        rate_per_minute=parse_amount(raw["rate_per_minute"], "rate_per_minute"),
        vat_percent=parse_amount(raw["vat_percent"], "vat_percent"),
        rounding=Rounding(raw["rounding"]),
        minimum_charge=parse_amount(raw["minimum_charge"], "minimum_charge"),
    )


def tariff_of(database: Database, data_dir: Path | None = None) -> Tariff:
    """The tariff `database` keeps; for a ledger not yet migrated (opened read-only),
    `data_dir`'s tariff.json; else the defaults (1.40 EUR/min, 19 % VAT)."""
    from relay.database.migrations import current_version

    if current_version(database.backend) >= TARIFF_SCHEMA_VERSION:
        return database.tariff()
    saved = read_tariff_file(data_dir) if data_dir is not None else None
    return saved or Tariff()


def load_tariff(data_dir: Path) -> Tariff:
    """The tariff of the SQLite ledger in `data_dir` (or the defaults)."""
    from relay.database import open_database

    database = open_database(None, data_dir=data_dir)
    try:
        return database.tariff()
    finally:
        database.close()


def save_tariff(data_dir: Path, tariff: Tariff) -> None:
    """Keep `tariff` in the SQLite ledger in `data_dir`."""
    from relay.database import open_database

    database = open_database(None, data_dir=data_dir)
    try:
        database.save_tariff(tariff)
    finally:
        database.close()


def with_overrides(
    tariff: Tariff,
    rate: str | None = None,
    vat: str | None = None,
    rounding: str | None = None,
    minimum_charge: str | None = None,
) -> Tariff:
    """`tariff` with any of the given command-line values put in place."""
    return Tariff(
        rate_per_minute=tariff.rate_per_minute if rate is None else parse_amount(rate, "--rate"),
        vat_percent=tariff.vat_percent if vat is None else parse_amount(vat, "--vat"),
        rounding=tariff.rounding if rounding is None else Rounding(rounding),
        minimum_charge=(
            tariff.minimum_charge
            if minimum_charge is None
            else parse_amount(minimum_charge, "--minimum-charge")
        ),
    )
