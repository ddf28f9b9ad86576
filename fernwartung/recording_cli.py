"""`fernwartung recording verify|info|export|play`: the front of a recording.

verify's verdicts, each with its own exit status (the reason on stdout when intact, on
stderr otherwise):

    0  intact (with --ledger: it matches every checkpoint of the relay's ledger it covers)
    4  intact, but the peer's reports to the relay disagree with what the peer sent in the
       channel (the peer is named; this file is not at fault)
    3  cut: records are missing at the end (a crash, or cut back and an end record added:
       the relay forwarded more from this side than the file holds)
    1  altered: a record changed, removed or moved, data after the end, or this side's own
       reports to the relay disagree; also a file or ledger that cannot be read at all

With --ledger DATA_DIR the SQLite ledger is read by `read_ledger`, the one place here
that knows the relay's tables; with --database URL a PostgreSQL shared by several relays,
through the relay's database layer (`read_database_checkpoints`): a session that moved
between relays has one row there.
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
from protocol.recording_verify import Forwarded, LedgerCheckpoint, Problem, verify
from relay.database import DatabaseError
from relay.ledger import LEDGER_FILE
from viewer.recording_timeline import scan

EXIT_OK = 0
EXIT_FAILED = 1  # altered, or not readable
EXIT_CUT = 3
EXIT_PEER_DISAGREES = 4
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


_FORWARDED_QUERY = """
SELECT bytes_host_to_viewer, bytes_viewer_to_host, bytes_host_to_viewer_at_consent,
       bytes_viewer_to_host_at_consent
FROM sessions WHERE session = ? AND registered <= ? ORDER BY registered DESC LIMIT 1
"""


def read_ledger(
    data_dir: Path, header: RecordingHeader
) -> tuple[list[LedgerCheckpoint], Forwarded]:
    """The relay's checkpoints for the session this recording is of, and what it forwarded
    from each side after the customer's first answer."""
    checkpoints = read_ledger_checkpoints(data_dir, header)
    path = data_dir / LEDGER_FILE
    latest = datetime.fromtimestamp(header.start_time + LEDGER_CLOCK_SKEW_SECONDS, UTC)
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = connection.execute(
            _FORWARDED_QUERY, (header.session, latest.isoformat(timespec="milliseconds"))
        ).fetchone()
    except sqlite3.OperationalError:
        row = None  # a ledger of a relay that did not count them yet
    finally:
        connection.close()
    if row is None:
        return checkpoints, Forwarded(None, None)
    total_host, total_viewer, at_consent_host, at_consent_viewer = row

    def since_consent(total: int | None, at_consent: int | None) -> int | None:
        return None if total is None or at_consent is None else total - at_consent

    forwarded = Forwarded(
        since_consent(total_host, at_consent_host), since_consent(total_viewer, at_consent_viewer)
    )
    return checkpoints, forwarded


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
        ledger = forwarded = None
        database = getattr(args, "database", None)
        if args.ledger or database:
            header = RecordReader(stream).read_header()
            try:
                if database:
                    ledger = read_database_checkpoints(database, header)
                else:
                    ledger, forwarded = read_ledger(Path(args.ledger), header)
            except (sqlite3.Error, ValueError, DatabaseError) as error:
                return _fail(f"the ledger cannot be read ({type(error).__name__}: {error})")
            stream.seek(0)
        result = verify(stream, ledger, forwarded)
    if result.problem is Problem.CUT:
        print(f"fernwartung recording: {path.name}: CUT: {result.reason}", file=sys.stderr)
        return EXIT_CUT
    if not result.intact:
        return _fail(f"{path.name}: NOT INTACT ({result.problem.value}): {result.reason}")
    if result.peer_disagrees is not None:
        print(
            f"{path.name}: INTACT, BUT THE {result.peer_disagrees.value.upper()}'S REPORTS "
            f"DISAGREE: {result.reason}"
        )
        return EXIT_PEER_DISAGREES
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
