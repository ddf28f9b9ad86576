"""`fernwartung recording verify|info|export|play`: the front of a recording.

verify exits 0 only for an intact recording (and, with --ledger DATA_DIR or --database
URL, one whose checkpoints match the relay's ledger), otherwise 1 with the reason on
stderr; a file or ledger that cannot be read at all is also 1. The SQLite ledger is read
by `read_ledger_checkpoints`, the one place here that knows the relay's tables; a
PostgreSQL shared by several relays through the relay's database layer
(`read_database_checkpoints`): a session that moved between relays has one row there.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from protocol.errors import FernwartungError
from protocol.handshake import Role
from protocol.recording import RecordingHeader
from protocol.recording_reader import RecordReader
from protocol.recording_verify import LedgerCheckpoint, verify
from relay.database import DatabaseError
from relay.ledger import LEDGER_FILE
from viewer.recording_timeline import scan

EXIT_OK = 0
EXIT_FAILED = 1
# The recorder's clock may run ahead of the relay's; a session is registered before its
# recording starts, so the newest registration up to this much after the start is it.
LEDGER_CLOCK_SKEW_SECONDS = 300.0

# The checkpoints of the newest session with this number registered before the recording
# started (session numbers are reused), in the order the relay received them.
_LEDGER_QUERY = """
SELECT side, records, head, relay_time, file_records, file_head FROM checkpoints
WHERE session_id = (
    SELECT id FROM sessions WHERE session = ? AND registered <= ?
    ORDER BY registered DESC LIMIT 1
)
ORDER BY id
"""


def read_ledger_checkpoints(data_dir: Path, header: RecordingHeader) -> list[LedgerCheckpoint]:
    """The relay's checkpoints for the session this recording is of."""
    path = data_dir / LEDGER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no ledger at {path}")
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        query = (header.session, _registered_by(header))
        rows = connection.execute(_LEDGER_QUERY, query).fetchall()
    finally:
        connection.close()
    return [_checkpoint(*row) for row in rows]


def read_database_checkpoints(url: str, header: RecordingHeader) -> list[LedgerCheckpoint]:
    """The same from the database at `url` (PostgreSQL), read-only."""
    from relay.database import open_database

    database = open_database(url, read_only=True)
    try:
        stored = database.checkpoints_for(header.session, _registered_by(header))
    finally:
        database.close()
    return [
        _checkpoint(c.side, c.records, c.head, c.relay_time, c.file_records, c.file_head)
        for c in stored
    ]


def _registered_by(header: RecordingHeader) -> str:
    latest = datetime.fromtimestamp(header.start_time + LEDGER_CLOCK_SKEW_SECONDS, UTC)
    return latest.isoformat(timespec="milliseconds")


def _checkpoint(
    side: str,
    records: object,
    head: str,
    relay_time: str,
    file_records: object,
    file_head: str | None,
) -> LedgerCheckpoint:
    reported_file = file_head is not None and file_records is not None
    return LedgerCheckpoint(
        records=int(records),  # type: ignore[call-overload]
        head=bytes.fromhex(head),
        side=Role(side),
        time=datetime.fromisoformat(relay_time).timestamp(),
        file_records=int(file_records) if reported_file else None,  # type: ignore[call-overload]
        file_head=bytes.fromhex(file_head) if reported_file else None,  # type: ignore[arg-type]
    )


def _fail(reason: str) -> int:
    print(f"fernwartung recording: {reason}", file=sys.stderr)
    return EXIT_FAILED


def run_verify(args: argparse.Namespace) -> int:
    path = Path(args.file)
    with path.open("rb") as stream:
        ledger = None
        database = getattr(args, "database", None)
        if args.ledger or database:
            header = RecordReader(stream).read_header()
            try:
                if database:
                    ledger = read_database_checkpoints(database, header)
                else:
                    ledger = read_ledger_checkpoints(Path(args.ledger), header)
            except (sqlite3.Error, ValueError, DatabaseError) as error:
                return _fail(f"the ledger cannot be read ({type(error).__name__}: {error})")
            stream.seek(0)
        result = verify(stream, ledger)
    if not result.intact:
        return _fail(f"{path.name}: NOT INTACT ({result.problem.value}): {result.reason}")
    print(f"{path.name}: {result.reason}")
    return EXIT_OK


def _iso(time: float) -> str:
    return datetime.fromtimestamp(time, UTC).isoformat(timespec="milliseconds")


def run_info(args: argparse.Namespace) -> int:
    path = Path(args.file)
    with path.open("rb") as stream:
        timeline = scan(stream)
    header = timeline.header
    info = {
        "file": str(path),
        "side": header.side.value,
        "session": header.session,
        "technician": header.technician,
        "customer": header.customer,
        "relay": header.relay,
        "terms_hash": header.terms_hash.hex(),
        "screen": f"{header.screen_width}x{header.screen_height}",
        "start": _iso(header.start_time),
        "end": _iso(timeline.last_time),
        "duration_seconds": round(timeline.duration, 3),
        "frames": len(timeline.frames),
        "frame_bytes": timeline.frame_bytes,
        "inputs": timeline.inputs,
        "inputs_applied": timeline.inputs_applied,
        "inputs_dropped": timeline.inputs_dropped,
        "consent_changes": timeline.consent_changes,
        "chats": timeline.chats,
        "checkpoints": timeline.checkpoints,
        "checkpoints_by_side": timeline.checkpoints_by_side,
        "gaps": timeline.gaps,
        "records": timeline.records,
        "bytes": path.stat().st_size,
        "complete": timeline.end_reason is not None and timeline.damage is None,
        "end_reason": timeline.end_reason,
        "damage": timeline.damage,
    }
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
        return EXIT_OK
    width = max(map(len, info))
    by_side = timeline.checkpoints_by_side
    for key, value in info.items():
        if key in ("inputs_applied", "inputs_dropped") and header.side is not Role.HOST:
            continue
        if key == "checkpoints_by_side":
            continue
        if key == "checkpoints":
            # Counted as `verify --ledger` counts the relay's: each side's reports.
            value = (
                f"{sum(by_side.values())} (host {by_side['host']}, viewer {by_side['viewer']}), "
                f"{value} written into this file"
            )
        print(f"{key.replace('_', ' '):<{width}}  {'-' if value is None else value}")
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    from viewer.export import export

    try:
        exported = export(Path(args.file), Path(args.out))
    except ValueError as error:
        return _fail(str(error))
    print(f"{exported.frames} frames, {exported.duration:.3f} s -> {exported.path}")
    if exported.damage is not None:
        return _fail(
            f"the recording is damaged: {exported.damage}; exported the "
            f"{exported.frames} frame updates before it"
        )
    return EXIT_OK


def run_play(args: argparse.Namespace) -> int:
    from viewer.player import play

    play(Path(args.file))
    return EXIT_OK


ACTIONS = {"verify": run_verify, "info": run_info, "export": run_export, "play": run_play}


def run(args: argparse.Namespace) -> int:
    try:
        return ACTIONS[args.action](args)
    except FileNotFoundError as error:
        return _fail(f"not found: {error.filename or error}")
    except FernwartungError as error:
        return _fail(str(error))
    except OSError as error:
        return _fail(f"cannot read or write: {error.strerror or type(error).__name__}")
