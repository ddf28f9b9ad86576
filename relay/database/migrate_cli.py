"""`fernwartung relay migrate`: bring the database's schema up to this program's version
without starting the relay (a relay also migrates when it starts)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relay.database import DatabaseError, configured_database, open_database

EXIT_OK = 0
EXIT_FAILED = 1


def run(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir) if args.data_dir else None
    try:
        target = configured_database(args.database)
        database = open_database(target, data_dir=data_dir, migrate=False)
    except DatabaseError as error:
        print(f"fernwartung relay migrate: {error}", file=sys.stderr)
        return EXIT_FAILED
    try:
        report = database.migrate()
    except DatabaseError as error:
        print(f"fernwartung relay migrate: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        database.close()
    applied = ", ".join(report.applied) or "nothing to do"
    print(
        f"{database.description}: schema version {report.from_version} -> "
        f"{report.to_version} ({applied})",
        flush=True,
    )
    return EXIT_OK
