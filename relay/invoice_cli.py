"""`fernwartung invoice`: bill a month's sessions from the ledger (a data dir's SQLite
file, or the PostgreSQL database every relay shares: then the invoice covers them all)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relay.database import DatabaseError, configured_database, open_database
from relay.database.tariffs import tariff_of
from relay.invoice import as_csv, as_json, as_table, build_invoice, check_month
from relay.tariff import with_overrides

FORMATS = {"table": as_table, "csv": as_csv, "json": as_json}
EXIT_USAGE = 2


def run(args: argparse.Namespace) -> int:
    target = configured_database(getattr(args, "database", None))
    data_dir = Path(args.data_dir) if args.data_dir else None
    try:
        check_month(args.month)
        database = open_database(target, data_dir=data_dir, read_only=True)
    except (ValueError, DatabaseError) as error:
        print(f"fernwartung invoice: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        tariff = with_overrides(tariff_of(database, data_dir), rate=args.rate, vat=args.vat)
        invoice = build_invoice(
            database, args.month, tariff, technician=args.technician, customer=args.customer
        )
    except (ValueError, DatabaseError) as error:
        print(f"fernwartung invoice: {error}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        database.close()
    text = FORMATS[args.format](invoice)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
