"""The operator's tariff as the relay's flags and older data dirs give it (the database
keeps it: relay/database/tariffs.py).

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

from protocol.billing import Rounding, Tariff

TARIFF_FILE = "tariff.json"


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
