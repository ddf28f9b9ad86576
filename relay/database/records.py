"""What the database hands back: small frozen records, and the two helpers every table
uses (the ledger's time text and a token's hash)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime


def now_text() -> str:
    """The current UTC time as the ledger stores it (ISO 8601 with milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def hash_token(token: str) -> str:
    """SHA-256 hex of a token: what the database keeps instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Technician:
    id: int
    name: str
    created: str
    revoked: str | None


@dataclass(frozen=True, slots=True)
class ResumableSession:
    """An open, consented session whose sides both left a resume verifier (for a restart
    or a takeover by another relay)."""

    id: int
    number: str
    technician_id: int | None
    technician_name: str
    consent_level: str
    bytes_host_to_viewer: int
    bytes_viewer_to_host: int
    verifiers: dict[str, tuple[int, bytes]]  # side -> (epoch, verifier)


@dataclass(frozen=True, slots=True)
class RelayRecord:
    """A relay as the others see it: where to send clients, and whether it is alive."""

    id: str
    public_url: str
    fingerprint: str | None
    started: str
    heartbeat_at: float
    alive: bool


@dataclass(frozen=True, slots=True)
class SessionLocation:
    """Where a live session number is held: what a relay needs to send a viewer there, or
    to take the session over when its relay is gone."""

    session_id: int
    number: str
    relay_id: str | None  # None: held by no relay (a single relay of before, or released)
    public_url: str | None
    fingerprint: str | None
    owner_alive: bool
    consented: bool


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    side: str
    records: int
    head: str
    relay_time: str
    file_records: int | None
    file_head: str | None
