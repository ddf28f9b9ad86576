"""`fernwartung invoice`: bill a month's sessions from the ledger."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relay.invoice import as_csv, as_json, as_table, build_invoice
from relay.tariff import load_tariff, with_overrides

FORMATS = {"table": as_table, "csv": as_csv, "json": as_json}


def run(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    try:
        tariff = with_overrides(load_tariff(data_dir), rate=args.rate, vat=args.vat)
        invoice = build_invoice(
            data_dir, args.month, tariff, technician=args.technician, customer=args.customer
        )
    except (ValueError, FileNotFoundError) as error:
        print(f"fernwartung invoice: {error}", file=sys.stderr)
        return 2
    text = FORMATS[args.format](invoice)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
