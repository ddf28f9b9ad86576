"""`fernwartung technician add|list|revoke`: the operator manages technicians' tokens."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relay.database import DatabaseError, configured_database, open_database

EXIT_OK = 0
EXIT_FAILED = 1


def run(args: argparse.Namespace) -> int:
    try:
        database = open_database(
            configured_database(getattr(args, "database", None)), data_dir=Path(args.data_dir)
        )
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
