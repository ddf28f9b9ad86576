"""`fernwartung technician add|list|revoke`: the operator manages technicians' tokens."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relay.database import DatabaseError, configured_database, open_database
from relay.ledger import LEDGER_FILE

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def run(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    database_url = configured_database(getattr(args, "database", None))
    if database_url is None and args.action != "add" and not (data_dir / LEDGER_FILE).is_file():
        # Listing or revoking in a folder without a ledger is a wrong folder: say so, and
        # leave no new folder behind.
        print(
            f"fernwartung technician: no relay ledger in {data_dir}; give the relay's data "
            f"folder with --data-dir DIR / kein Journal des Relays in {data_dir}; geben Sie "
            "den Datenordner des Relays mit --data-dir DIR an",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if database_url is None and not data_dir.exists():
        print(
            f"fernwartung technician: created the data folder {data_dir} / "
            f"Datenordner {data_dir} angelegt",
            file=sys.stderr,
        )
    try:
        database = open_database(database_url, data_dir=data_dir)
    except DatabaseError as error:
        print(f"fernwartung technician: {error}", file=sys.stderr)
        return EXIT_FAILED
    try:
        if args.action == "add":
            token = database.add_technician(args.name)
            print(f"technician {args.name!r} added; the token is shown only this once:")
            print(token, flush=True)
        elif args.action == "list":
            for technician in database.technicians():
                state = f"revoked {technician.revoked}" if technician.revoked else "active"
                print(f"{technician.name}\tcreated {technician.created}\t{state}")
        elif args.action == "revoke":
            database.revoke_technician(args.name)
            when = (
                "every relay on this database ends their sessions at once"
                if database.dialect == "postgresql"
                else "a running relay ends their sessions within its revocation sweep interval"
            )
            print(f"technician {args.name!r} revoked; {when}")
    except DatabaseError as error:
        print(f"fernwartung technician: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        database.close()
    return EXIT_OK
