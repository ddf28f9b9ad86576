"""`fernwartung technician add|list|revoke`: the operator manages technicians' tokens."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relay.ledger import Ledger, LedgerError

EXIT_OK = 0
EXIT_FAILED = 1


def run(args: argparse.Namespace) -> int:
    ledger = Ledger(Path(args.data_dir))
    try:
        if args.action == "add":
            token = ledger.add_technician(args.name)
            print(f"technician {args.name!r} added; the token is shown only this once:")
            print(token, flush=True)
        elif args.action == "list":
            for technician in ledger.technicians():
                state = f"revoked {technician.revoked}" if technician.revoked else "active"
                print(f"{technician.name}\tcreated {technician.created}\t{state}")
        elif args.action == "revoke":
            ledger.revoke_technician(args.name)
            print(
                f"technician {args.name!r} revoked; a running relay ends their sessions "
                "within its revocation sweep interval"
            )
    except LedgerError as error:
        print(f"fernwartung technician: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        ledger.close()
    return EXIT_OK
