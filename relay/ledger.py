"""The ledger: who used the relay, when, and for how long (one SQLite file, WAL).

Schema (all times are UTC ISO 8601 text with milliseconds, e.g. 2025-01-31T09:15:02.123+00:00;
NULL means "not (yet)"):

technicians
    id INTEGER PRIMARY KEY, name TEXT UNIQUE, token_hash TEXT UNIQUE (SHA-256 hex of the
    token; the token itself is never stored), created TEXT, revoked TEXT NULL

sessions  (one row per registration of a session number; numbers are reused later)
    id INTEGER PRIMARY KEY, session TEXT (the session number), technician TEXT NULL (name at
    pairing), customer TEXT NULL (reference the viewer gave), registered TEXT, paired TEXT,
    consent_granted TEXT (first time the host reported view or control), ended TEXT,
    end_reason TEXT (see END_REASONS), consent_level TEXT NULL (last reported: denied, view,
    control), failed_attempts INTEGER, bytes_host_to_viewer INTEGER,
    bytes_viewer_to_host INTEGER

consents  (the customer's consent receipts: each answer or change of level, with what the
    host says the customer was shown)
    id INTEGER PRIMARY KEY, session_id INTEGER REFERENCES sessions(id), level TEXT,
    technician TEXT, rate_per_minute TEXT, vat_percent TEXT, terms_hash TEXT (64 hex or
    empty), relay_time TEXT

checkpoints  (recording chain heads as reported, with the relay's receive time)
    id INTEGER PRIMARY KEY, session_id INTEGER REFERENCES sessions(id), side TEXT (host or
    viewer), records INTEGER, head TEXT (64 hex), relay_time TEXT

resume_verifiers  (what lets a consented session resume after a dropped connection or a
    relay restart: per side the SHA-256 of its one-time resume secret, never the secret
    nor any key; a row goes when the secret was used or the session ended)
    session_id INTEGER REFERENCES sessions(id), side TEXT (host or viewer), epoch INTEGER,
    verifier TEXT (64 hex); PRIMARY KEY (session_id, side)

Billing reads `sessions`: billable time is from consent_granted to ended (rows with
consent_granted NULL are not billable).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from protocol.control import Consent

LEDGER_FILE = "ledger.sqlite3"
TOKEN_BYTES = 32
MAX_TECHNICIAN_NAME_CHARS = 64
BUSY_TIMEOUT_SECONDS = 10.0
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,64}")

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
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS technicians (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    revoked TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    session TEXT NOT NULL,
    technician TEXT,
    customer TEXT,
    registered TEXT NOT NULL,
    paired TEXT,
    consent_granted TEXT,
    ended TEXT,
    end_reason TEXT,
    consent_level TEXT,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    bytes_host_to_viewer INTEGER NOT NULL DEFAULT 0,
    bytes_viewer_to_host INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_by_number ON sessions (session);
CREATE INDEX IF NOT EXISTS sessions_by_registered ON sessions (registered);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    side TEXT NOT NULL CHECK (side IN ('host', 'viewer')),
    records INTEGER NOT NULL,
    head TEXT NOT NULL,
    relay_time TEXT NOT NULL,
    file_records INTEGER,
    file_head TEXT
);
CREATE INDEX IF NOT EXISTS checkpoints_by_session ON checkpoints (session_id);
CREATE TABLE IF NOT EXISTS consents (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    level TEXT NOT NULL,
    technician TEXT NOT NULL,
    rate_per_minute TEXT NOT NULL,
    vat_percent TEXT NOT NULL,
    terms_hash TEXT NOT NULL,
    relay_time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consents_by_session ON consents (session_id);
CREATE TABLE IF NOT EXISTS resume_verifiers (
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    side TEXT NOT NULL CHECK (side IN ('host', 'viewer')),
    epoch INTEGER NOT NULL,
    verifier TEXT NOT NULL,
    PRIMARY KEY (session_id, side)
);
"""


class LedgerError(Exception):
    """A ledger request that cannot be done, in words for the operator."""


def now_text() -> str:
    """The current UTC time as stored in the ledger."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Technician:
    id: int
    name: str
    created: str
    revoked: str | None


@dataclass(frozen=True, slots=True)
class ResumableSession:
    """An open, consented session whose sides both left a resume verifier (for a restart)."""

    id: int
    number: str
    technician_id: int | None
    technician_name: str
    consent_level: str
    bytes_host_to_viewer: int
    bytes_viewer_to_host: int
    verifiers: dict[str, tuple[int, bytes]]  # side -> (epoch, verifier)


class Ledger:
    """Blocking access to the ledger file; the relay calls it from one worker thread."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / LEDGER_FILE
        self._db = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Columns added after a ledger file may have been created (NULL in older rows)."""
        present = {row[1] for row in self._db.execute("PRAGMA table_info(checkpoints)")}
        for column, kind in (("file_records", "INTEGER"), ("file_head", "TEXT")):
            if column not in present:
                self._db.execute(f"ALTER TABLE checkpoints ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self._db.close()

    # technicians

    def add_technician(self, name: str) -> str:
        """Create a technician and return the token (shown once, only its hash is kept)."""
        if not _NAME.fullmatch(name):
            raise LedgerError(
                f"a technician name is 1 to {MAX_TECHNICIAN_NAME_CHARS} printable characters"
            )
        token = secrets.token_urlsafe(TOKEN_BYTES)
        try:
            self._db.execute(
                "INSERT INTO technicians (name, token_hash, created) VALUES (?, ?, ?)",
                (name, hash_token(token), now_text()),
            )
        except sqlite3.IntegrityError:
            raise LedgerError(f"a technician named {name!r} already exists") from None
        return token

    def technicians(self) -> list[Technician]:
        rows = self._db.execute(
            "SELECT id, name, created, revoked FROM technicians ORDER BY name"
        ).fetchall()
        return [Technician(*row) for row in rows]

    def revoke_technician(self, name: str) -> None:
        cursor = self._db.execute(
            "UPDATE technicians SET revoked = ? WHERE name = ? AND revoked IS NULL",
            (now_text(), name),
        )
        if cursor.rowcount == 0:
            known = self._db.execute("SELECT 1 FROM technicians WHERE name = ?", (name,))
            if known.fetchone() is None:
                raise LedgerError(f"no technician named {name!r}")

    def technician_for_token(self, token: str) -> Technician | None:
        """The active technician holding `token`, by lookup of its hash (no timing leak of
        the token: the comparison happens on a hash the caller cannot choose)."""
        row = self._db.execute(
            "SELECT id, name, created, revoked FROM technicians WHERE token_hash = ?",
            (hash_token(token),),
        ).fetchone()
        if row is None or row[3] is not None:
            return None
        return Technician(*row)

    def revoked_among(self, technician_ids: Iterable[int]) -> set[int]:
        ids = sorted(set(technician_ids))
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            f"SELECT id FROM technicians WHERE revoked IS NOT NULL AND id IN ({marks})", ids
        ).fetchall()
        return {row[0] for row in rows}

    # sessions

    def open_session(self, number: str) -> int:
        cursor = self._db.execute(
            "INSERT INTO sessions (session, registered) VALUES (?, ?)", (number, now_text())
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def mark_paired(self, session_id: int, technician: str, customer: str) -> None:
        self._db.execute(
            "UPDATE sessions SET technician = ?, customer = ?, paired = ? WHERE id = ?",
            (technician, customer or None, now_text(), session_id),
        )

    def record_failed_attempt(self, session_id: int) -> None:
        self._db.execute(
            "UPDATE sessions SET failed_attempts = failed_attempts + 1 WHERE id = ?",
            (session_id,),
        )

    def record_consent(self, session_id: int, receipt: Consent) -> None:
        """The session's consent level, and the receipt of what the customer answered."""
        level = receipt.level.value
        granted = level in ("view", "control")
        now = now_text()
        self._db.execute(
            "UPDATE sessions SET consent_level = ?, consent_granted = CASE "
            "WHEN ? AND consent_granted IS NULL THEN ? ELSE consent_granted END WHERE id = ?",
            (level, granted, now, session_id),
        )
        self._db.execute(
            "INSERT INTO consents (session_id, level, technician, rate_per_minute, vat_percent, "
            "terms_hash, relay_time) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session_id, level, receipt.technician, receipt.rate_per_minute,
             receipt.vat_percent, receipt.terms_hash, now),
        )  # fmt: skip

    def consent_rows(self) -> list[dict[str, object]]:
        cursor = self._db.execute("SELECT * FROM consents ORDER BY id")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def record_checkpoint(
        self,
        session_id: int,
        side: str,
        records: int,
        head: bytes,
        file_records: int | None = None,
        file_head: bytes | None = None,
    ) -> None:
        """Store a side's reported chain heads (the file chain's, if it reported one)."""
        if file_head is None:
            file_records = None
        self._db.execute(
            "INSERT INTO checkpoints (session_id, side, records, head, relay_time, "
            "file_records, file_head) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session_id, side, records, head.hex(), now_text(), file_records,
             file_head.hex() if file_head is not None else None),
        )  # fmt: skip

    def close_session(
        self, session_id: int, reason: str, bytes_host_to_viewer: int, bytes_viewer_to_host: int
    ) -> None:
        self._db.execute(
            "UPDATE sessions SET ended = ?, end_reason = ?, bytes_host_to_viewer = ?, "
            "bytes_viewer_to_host = ? WHERE id = ? AND ended IS NULL",
            (now_text(), reason, bytes_host_to_viewer, bytes_viewer_to_host, session_id),
        )
        self._db.execute("DELETE FROM resume_verifiers WHERE session_id = ?", (session_id,))

    def close_open_sessions(self, reason: str, keep: Iterable[int] = ()) -> int:
        """Close rows a stopped or crashed relay left open, except the ones in `keep`
        (sessions that may still resume)."""
        kept = sorted(set(keep))
        marks = ",".join("?" * len(kept))
        spare = f" AND id NOT IN ({marks})" if kept else ""
        cursor = self._db.execute(
            f"UPDATE sessions SET ended = ?, end_reason = ? WHERE ended IS NULL{spare}",
            (now_text(), reason, *kept),
        )
        self._db.execute(
            "DELETE FROM resume_verifiers WHERE session_id IN "
            "(SELECT id FROM sessions WHERE ended IS NOT NULL)"
        )
        return cursor.rowcount

    # resuming

    def store_verifier(self, session_id: int, side: str, epoch: int, verifier: bytes) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO resume_verifiers (session_id, side, epoch, verifier) "
            "VALUES (?, ?, ?, ?)",
            (session_id, side, epoch, verifier.hex()),
        )

    def forget_verifier(self, session_id: int, side: str) -> None:
        """A secret opens its verifier once: after a resume it is gone here too."""
        self._db.execute(
            "DELETE FROM resume_verifiers WHERE session_id = ? AND side = ?", (session_id, side)
        )

    def save_bytes(
        self, session_id: int, bytes_host_to_viewer: int, bytes_viewer_to_host: int
    ) -> None:
        """The byte counts of a session that stays open across a relay restart."""
        self._db.execute(
            "UPDATE sessions SET bytes_host_to_viewer = ?, bytes_viewer_to_host = ? WHERE id = ?",
            (bytes_host_to_viewer, bytes_viewer_to_host, session_id),
        )

    def resumable_sessions(self) -> list[ResumableSession]:
        """Open sessions with consent granted and a verifier from both sides."""
        rows = self._db.execute(
            "SELECT s.id, s.session, t.id, COALESCE(s.technician, ''), s.consent_level, "
            "s.bytes_host_to_viewer, s.bytes_viewer_to_host FROM sessions s "
            "LEFT JOIN technicians t ON t.name = s.technician "
            "WHERE s.ended IS NULL AND s.consent_level IN ('view', 'control') "
            "AND (SELECT COUNT(*) FROM resume_verifiers v WHERE v.session_id = s.id) = 2"
        ).fetchall()
        found = []
        for row in rows:
            verifiers = {
                side: (epoch, bytes.fromhex(verifier))
                for side, epoch, verifier in self._db.execute(
                    "SELECT side, epoch, verifier FROM resume_verifiers WHERE session_id = ?",
                    (row[0],),
                )
            }
            found.append(ResumableSession(*row, verifiers=verifiers))
        return found

    def session_rows(self) -> list[dict[str, object]]:
        """Every session row as a mapping (for tests, tools and billing)."""
        cursor = self._db.execute("SELECT * FROM sessions ORDER BY id")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def checkpoint_rows(self) -> list[dict[str, object]]:
        cursor = self._db.execute("SELECT * FROM checkpoints ORDER BY id")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
