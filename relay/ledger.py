"""The ledger as the relay server calls it today: `Ledger(data_dir)` is the SQLite
database in the data dir (relay/database/), with the behaviour the server's callers rely
on while the database cannot be reached.

What the ledger keeps (all times UTC ISO 8601 text with milliseconds, e.g.
2025-01-31T09:15:02.123+00:00; NULL means "not (yet)"): `technicians` (token hash, never
the token), `sessions` (one row per registration of a session number: technician,
customer, registered, paired, consent_granted, ended, end_reason (see END_REASONS),
consent_level, failed_attempts, bytes in each direction, and from schema 2 the relay that
holds it and every relay that did), `consents` (the customer's consent receipts),
`checkpoints` (recording chain heads with the relay's time), `resume_verifiers` (SHA-256 of
each side's one-time resume secret, never the secret). The schema is in
relay/database/migrations/. Billing reads `sessions`: billable time is from
consent_granted to ended.

Differences from the database interface, for today's callers only: `revoked_among`
answers "none" while the database is unreachable (nobody can be revoked then: revoking
writes the same database), so the relay's revocation sweep goes on; a relay that stops
meanwhile skips closing the open rows (the ends of its sessions wait in the queue and
are saved to the data dir); and a request that
cannot be answered raises `LedgerUnavailable`, which is also the relay's `Close`: the
client gets `error` `database_unavailable` with a bilingual text and the connection closes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from protocol.control import ErrorCode
from relay.database import (
    LEDGER_FILE,
    Database,
    DatabaseError,
    DatabaseUnavailable,
    ResumableSession,
    Technician,
    hash_token,
    now_text,
)
from relay.database.backends import PostgresBackend, SqliteBackend
from relay.farewell import CLOSE_GOING_AWAY, DATABASE_UNAVAILABLE_TEXT, Close, error_message

__all__ = [
    "END_REASONS",
    "LEDGER_FILE",
    "Ledger",
    "LedgerError",
    "LedgerUnavailable",
    "ResumableSession",
    "Technician",
    "hash_token",
    "now_text",
]

LedgerError = DatabaseError

# Why a session ended, as stored in sessions.end_reason.
END_REASONS = (
    "host_ended",  # the host sent `end`
    "viewer_ended",  # the viewer sent `end`
    "host_left",  # the host's connection closed
    "viewer_left",  # the viewer's connection closed after consent was reported
    "host_not_reading",  # a forward to the host stalled
    "viewer_not_reading",
    "host_too_large",  # a message above the relay's size limit (closed with 1009)
    "viewer_too_large",
    "host_bad_message",  # the host broke the protocol (malformed, too large, ...)
    "viewer_bad_message",
    "void",  # three failed attempts
    "expired",  # no viewer within the code's lifetime
    "idle",  # no message in either direction for the idle timeout
    "revoked",  # the technician's token was revoked
    "shutting_down",  # the relay stopped
    "relay_restarted",  # open when the relay started and not resumed in the grace period
    "relay_lost",  # its relay died and no other relay took it over in the grace period
    "database_unavailable",  # the write-behind queue filled during a database outage
)


class LedgerUnavailable(DatabaseUnavailable, Close):
    """The database cannot be reached: refuse with `database_unavailable`, then close."""

    def __init__(self, detail: str) -> None:
        Close.__init__(
            self,
            error_message(ErrorCode.DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_TEXT),
            CLOSE_GOING_AWAY,
            "database unavailable",
            end_reason="database_unavailable",
        )
        self.detail = detail

    def __str__(self) -> str:
        return self.detail


class Ledger(Database):
    """The SQLite ledger in `data_dir` (or PostgreSQL, through `Ledger.open`), for the
    relay server's current calls."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LEDGER_FILE
        backend = SqliteBackend(self.path)
        try:
            super().__init__(backend, data_dir=data_dir)
        except BaseException:
            backend.close()
            raise

    @classmethod
    def open(cls, database: str | None, data_dir: Path) -> Ledger:
        """The ledger in PostgreSQL at `database` (a URL), or in `data_dir`'s SQLite file."""
        if not database:
            return cls(data_dir)
        ledger = cls.__new__(cls)
        ledger.path = data_dir / LEDGER_FILE
        backend = PostgresBackend(database)
        try:
            Database.__init__(ledger, backend, data_dir=data_dir)
        except BaseException:
            backend.close()
            raise
        return ledger

    def _read(self, function: Any, *args: Any) -> Any:
        try:
            return super()._read(function, *args)
        except LedgerUnavailable:
            raise
        except DatabaseUnavailable as error:
            raise LedgerUnavailable(str(error)) from None

    def revoked_among(self, technician_ids: Iterable[int]) -> set[int]:
        try:
            return super().revoked_among(technician_ids)
        except DatabaseUnavailable:
            return set()

    def revoke_technician(self, name: str) -> None:  # type: ignore[override]
        super().revoke_technician(name)

    # Several relays on one database: rows are this relay's when `relay_id` is set
    # (by `fernwartung relay --database ... --relay-id ...`), for today's callers.
    relay_id: str | None = None

    def open_session(self, number: str, relay_id: str | None = None) -> int:
        return super().open_session(number, relay_id or self.relay_id)

    def close_open_sessions(
        self, reason: str, keep: Iterable[int] = (), relay_id: str | None = None
    ) -> int:
        """(A relay that stops while the database is unreachable has queued the end of
        each of its sessions already: the sweep over open rows is skipped then.)"""
        try:
            return super().close_open_sessions(reason, keep, relay_id or self.relay_id)
        except DatabaseUnavailable:
            if reason == "relay_restarted":
                raise  # at start: a relay does not start without its database
            return 0

    def resumable_sessions(self, relay_id: str | None = None) -> list[ResumableSession]:
        return super().resumable_sessions(relay_id or self.relay_id)

    def close_session(
        self,
        session_id: int,
        reason: str,
        bytes_host_to_viewer: int,
        bytes_viewer_to_host: int,
        relay_id: str | None = None,
    ) -> None:
        """(Only while this relay holds the row: not one another relay took over.)"""
        super().close_session(
            session_id, reason, bytes_host_to_viewer, bytes_viewer_to_host,
            relay_id or self.relay_id,
        )  # fmt: skip

    def release_session_number(self, number: str, now: float, relay_id: str | None = None) -> None:
        """(Skipped while the database is unreachable: a number is free again anyway once
        its session's row is closed for the tombstone time.)"""
        with contextlib.suppress(DatabaseUnavailable):
            super().release_session_number(number, now, relay_id or self.relay_id)
