"""The ledger's statements (technicians, sessions, consent receipts, checkpoints, resume
verifiers, the tariff), one function per request, each given a transaction.

Writes that may wait in the write-behind queue (`WRITES`) take the time of the event as
`at` and are idempotent: run twice (a write whose connection broke after the database
applied it is run again when the database is back) they leave the same rows as once.
Inserts therefore skip a row that is already there with the same content and time.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from protocol.billing import Rounding, Tariff
from relay.database.backends import Conflict, Transaction
from relay.database.errors import DatabaseError
from relay.database.records import ResumableSession, StoredCheckpoint, Technician, hash_token

TOKEN_BYTES = 32
MAX_TECHNICIAN_NAME_CHARS = 64
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,64}")


# technicians


def add_technician(tx: Transaction, at: str, name: str) -> tuple[int, str]:
    """A new technician's id and token (the token is shown once; only its hash is kept)."""
    if not _NAME.fullmatch(name):
        raise DatabaseError(
            f"a technician name is 1 to {MAX_TECHNICIAN_NAME_CHARS} printable characters"
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        row = tx.one(
            "INSERT INTO technicians (name, token_hash, created) VALUES (?, ?, ?) RETURNING id",
            (name, hash_token(token), at),
        )
    except Conflict:
        raise DatabaseError(f"a technician named {name!r} already exists") from None
    assert row is not None
    return int(row[0]), token


def technicians(tx: Transaction) -> list[Technician]:
    rows = tx.all("SELECT id, name, created, revoked FROM technicians ORDER BY name")
    return [Technician(*row) for row in rows]


def revoke_technician(tx: Transaction, at: str, name: str) -> int:
    """Revoke `name` (again is fine); its id. Its browser sign-ins end with it."""
    row = tx.one("SELECT id, revoked FROM technicians WHERE name = ?", (name,))
    if row is None:
        raise DatabaseError(f"no technician named {name!r}")
    technician_id = int(row[0])
    if row[1] is None:
        tx.execute("UPDATE technicians SET revoked = ? WHERE id = ?", (at, technician_id))
    tx.execute("DELETE FROM sign_ins WHERE technician_id = ?", (technician_id,))
    return technician_id


def technician_for_token(tx: Transaction, token: str) -> Technician | None:
    """The active technician holding `token`, found by its hash (the comparison happens on
    a hash the caller cannot choose: no timing leak of the token)."""
    row = tx.one(
        "SELECT id, name, created, revoked FROM technicians WHERE token_hash = ?",
        (hash_token(token),),
    )
    if row is None or row[3] is not None:
        return None
    return Technician(*row)


def revoked_among(tx: Transaction, technician_ids: Iterable[int]) -> set[int]:
    ids = sorted(set(technician_ids))
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    rows = tx.all(f"SELECT id FROM technicians WHERE revoked IS NOT NULL AND id IN ({marks})", ids)
    return {int(row[0]) for row in rows}


# the browser sign-in's second factor (relay/totp.py)


def set_totp_secret(tx: Transaction, name: str, secret: str | None) -> None:
    """Give `name` a new TOTP secret (None: none, no browser sign-in); a code of the old
    one is refused from now on."""
    changed = tx.execute(
        "UPDATE technicians SET totp_secret = ?, totp_last_step = NULL WHERE name = ?",
        (secret, name),
    )
    if changed != 1:
        raise DatabaseError(f"no technician named {name!r}")


def sign_in_candidate(
    tx: Transaction, name: str, token: str
) -> tuple[Technician, str | None] | None:
    """The active technician called `name` whose token is `token`, with their TOTP secret
    (None: they have none); None when the name, the token or both are wrong."""
    row = tx.one(
        "SELECT id, name, created, revoked, totp_secret FROM technicians WHERE token_hash = ?",
        (hash_token(token),),
    )
    if row is None or row[3] is not None or row[1] != name:
        return None
    return Technician(*row[:4]), row[4]


def use_totp_step(tx: Transaction, technician_id: int, step: int) -> bool:
    """Mark `step` used for the technician; False when it or a later one was used already
    (a code is good for one sign-in)."""
    return (
        tx.execute(
            "UPDATE technicians SET totp_last_step = ? WHERE id = ? AND revoked IS NULL "
            "AND (totp_last_step IS NULL OR totp_last_step < ?)",
            (step, technician_id, step),
        )
        == 1
    )


# sessions


def open_session(tx: Transaction, at: str, number: str, relay_id: str | None) -> int:
    row = tx.one(
        "INSERT INTO sessions (session, registered, relay_id, relays) VALUES (?, ?, ?, ?) "
        "RETURNING id",
        (number, at, relay_id, relay_id),
    )
    assert row is not None
    session_id = int(row[0])
    if relay_id is not None:
        tx.execute(
            "UPDATE session_numbers SET session_id = ? WHERE number = ? AND relay_id = ? "
            "AND released_at IS NULL",
            (session_id, number, relay_id),
        )
    return session_id


def mark_paired(tx: Transaction, at: str, session_id: int, technician: str, customer: str) -> None:
    tx.execute(
        "UPDATE sessions SET technician = ?, customer = ?, paired = ? WHERE id = ?",
        (technician, customer or None, at, session_id),
    )


def record_failed_attempt(tx: Transaction, at: str, session_id: int, count: int | None) -> int:
    """Count a wrong code: to `count` when the relay gives it (idempotent), else one more."""
    if count is None:
        tx.execute(
            "UPDATE sessions SET failed_attempts = failed_attempts + 1 WHERE id = ?",
            (session_id,),
        )
    else:
        tx.execute(
            "UPDATE sessions SET failed_attempts = CASE WHEN failed_attempts < ? THEN ? "
            "ELSE failed_attempts END WHERE id = ?",
            (count, count, session_id),
        )
    row = tx.one("SELECT failed_attempts FROM sessions WHERE id = ?", (session_id,))
    return int(row[0]) if row else 0


def record_consent(
    tx: Transaction,
    at: str,
    session_id: int,
    level: str,
    technician: str,
    rate_per_minute: str,
    vat_percent: str,
    terms_hash: str,
) -> None:
    """The session's consent level, and the receipt of what the customer answered."""
    granted = level in ("view", "control")
    tx.execute(
        "UPDATE sessions SET consent_level = ?, consent_granted = CASE "
        "WHEN ? AND consent_granted IS NULL THEN ? ELSE consent_granted END WHERE id = ?",
        (level, granted, at, session_id),
    )
    receipt = (session_id, level, technician, rate_per_minute, vat_percent, terms_hash, at)
    tx.execute(
        "INSERT INTO consents (session_id, level, technician, rate_per_minute, vat_percent, "
        "terms_hash, relay_time) SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM "
        "consents WHERE session_id = ? AND level = ? AND technician = ? AND rate_per_minute = ? "
        "AND vat_percent = ? AND terms_hash = ? AND relay_time = ?)",
        receipt + receipt,
    )


def record_bytes_at_consent(
    tx: Transaction, at: str, session_id: int, host_to_viewer: int, viewer_to_host: int
) -> None:
    """What the relay had forwarded each way when the customer first answered (kept once)."""
    tx.execute(
        "UPDATE sessions SET bytes_host_to_viewer_at_consent = ?, "
        "bytes_viewer_to_host_at_consent = ? WHERE id = ? "
        "AND bytes_host_to_viewer_at_consent IS NULL",
        (host_to_viewer, viewer_to_host, session_id),
    )


def record_checkpoint(
    tx: Transaction,
    at: str,
    session_id: int,
    side: str,
    records: int,
    head: str,
    file_records: int | None,
    file_head: str | None,
) -> None:
    row = (session_id, side, records, head, at)
    tx.execute(
        "INSERT INTO checkpoints (session_id, side, records, head, relay_time, file_records, "
        "file_head) SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM checkpoints "
        "WHERE session_id = ? AND side = ? AND records = ? AND head = ? AND relay_time = ?)",
        (*row, file_records, file_head, *row),
    )


def close_session(
    tx: Transaction,
    at: str,
    session_id: int,
    reason: str,
    bytes_host_to_viewer: int,
    bytes_viewer_to_host: int,
    relay_id: str | None = None,
) -> None:
    """End a session's row; with `relay_id`, only while that relay (or none) holds it: a
    relay cut off from its clients must not end a session another relay took over."""
    closed = tx.execute(
        "UPDATE sessions SET ended = ?, end_reason = ?, bytes_host_to_viewer = ?, "
        "bytes_viewer_to_host = ? WHERE id = ? AND ended IS NULL "
        "AND (CAST(? AS TEXT) IS NULL OR relay_id IS NULL OR relay_id = ?)",
        (at, reason, bytes_host_to_viewer, bytes_viewer_to_host, session_id, relay_id, relay_id),
    )
    if closed or relay_id is None:
        tx.execute("DELETE FROM resume_verifiers WHERE session_id = ?", (session_id,))


def close_open_sessions(
    tx: Transaction, at: str, reason: str, keep: Iterable[int], relay_id: str | None
) -> int:
    """Close rows a stopped or crashed relay left open, except the ones in `keep`
    (sessions that may still resume). With `relay_id`, only the rows that relay held (and
    rows of a relay of before, held by none); without, every open row (one relay alone)."""
    kept = sorted(set(keep))
    spare = f" AND id NOT IN ({','.join('?' * len(kept))})" if kept else ""
    mine = " AND (relay_id IS NULL OR relay_id = ?)" if relay_id is not None else ""
    params: list[Any] = [at, reason, *kept]
    if relay_id is not None:
        params.append(relay_id)
    closed = tx.execute(
        f"UPDATE sessions SET ended = ?, end_reason = ? WHERE ended IS NULL{spare}{mine}", params
    )
    tx.execute(
        "DELETE FROM resume_verifiers WHERE session_id IN "
        "(SELECT id FROM sessions WHERE ended IS NOT NULL)"
    )
    return closed


def store_verifier(
    tx: Transaction, at: str, session_id: int, side: str, epoch: int, verifier: str
) -> None:
    tx.execute(
        "INSERT INTO resume_verifiers (session_id, side, epoch, verifier) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (session_id, side) DO UPDATE SET epoch = excluded.epoch, "
        "verifier = excluded.verifier",
        (session_id, side, epoch, verifier),
    )


def forget_verifier(tx: Transaction, at: str, session_id: int, side: str) -> None:
    tx.execute("DELETE FROM resume_verifiers WHERE session_id = ? AND side = ?", (session_id, side))


def save_bytes(
    tx: Transaction, at: str, session_id: int, bytes_host_to_viewer: int, bytes_viewer_to_host: int
) -> None:
    tx.execute(
        "UPDATE sessions SET bytes_host_to_viewer = ?, bytes_viewer_to_host = ? "
        "WHERE id = ? AND ended IS NULL",
        (bytes_host_to_viewer, bytes_viewer_to_host, session_id),
    )


_RESUMABLE = (
    "SELECT s.id, s.session, t.id, COALESCE(s.technician, ''), s.consent_level, "
    "s.bytes_host_to_viewer, s.bytes_viewer_to_host FROM sessions s "
    "LEFT JOIN technicians t ON t.name = s.technician "
    "WHERE s.ended IS NULL AND s.consent_level IN ('view', 'control') "
    "AND (SELECT COUNT(*) FROM resume_verifiers v WHERE v.session_id = s.id) = 2"
)


def resumable_sessions(
    tx: Transaction, relay_id: str | None = None, session_id: int | None = None
) -> list[ResumableSession]:
    """Open sessions with consent granted and a verifier from both sides (those `relay_id`
    held, or rows of a relay of before; or just `session_id`)."""
    sql, params = _RESUMABLE, []
    if relay_id is not None:
        sql += " AND (s.relay_id IS NULL OR s.relay_id = ?)"
        params.append(relay_id)
    if session_id is not None:
        sql += " AND s.id = ?"
        params.append(session_id)
    found = []
    for row in tx.all(sql + " ORDER BY s.id", params):
        verifiers = {
            side: (int(epoch), bytes.fromhex(verifier))
            for side, epoch, verifier in tx.all(
                "SELECT side, epoch, verifier FROM resume_verifiers WHERE session_id = ?",
                (row[0],),
            )
        }
        found.append(ResumableSession(*row, verifiers=verifiers))
    return found


def rows(tx: Transaction, table: str) -> list[dict[str, Any]]:
    """Every row of a ledger table as a mapping (for tests, tools and billing)."""
    if table not in ("sessions", "checkpoints", "consents"):
        raise ValueError(f"not a ledger table: {table}")
    return tx.mappings(f"SELECT * FROM {table} ORDER BY id")


# what the invoice and `recording verify` read


def billable_sessions(
    tx: Transaction, month: str, technician: str | None, customer: str | None
) -> list[tuple[Any, ...]]:
    """(session, technician, customer, consent_granted, ended) of the month's billed
    sessions, in the order of their consent."""
    return tx.all(
        "SELECT session, technician, customer, consent_granted, ended FROM sessions "
        "WHERE consent_granted IS NOT NULL AND ended IS NOT NULL "
        "AND substr(consent_granted, 1, 7) = ? "
        "AND (CAST(? AS TEXT) IS NULL OR technician = ?) "
        "AND (CAST(? AS TEXT) IS NULL OR customer = ?) "
        "ORDER BY consent_granted, id",
        (month, technician, technician, customer, customer),
    )


def latest_ended(tx: Transaction, number: str) -> tuple[str | None, str] | None:
    """(consent_granted, ended) of the latest ended registration of a session number."""
    row = tx.one(
        "SELECT consent_granted, ended FROM sessions WHERE session = ? AND ended IS NOT NULL "
        "ORDER BY id DESC LIMIT 1",
        (number,),
    )
    return None if row is None else (row[0], row[1])


def checkpoints_for(tx: Transaction, number: str, registered_by: str) -> list[StoredCheckpoint]:
    """The checkpoints of the newest session with this number registered by
    `registered_by` (numbers are reused), in the order the relay received them."""
    found = tx.all(
        "SELECT side, records, head, relay_time, file_records, file_head FROM checkpoints "
        "WHERE session_id = (SELECT id FROM sessions WHERE session = ? AND registered <= ? "
        "ORDER BY registered DESC LIMIT 1) ORDER BY id",
        (number, registered_by),
    )
    return [StoredCheckpoint(*row) for row in found]


# the tariff


def tariff(tx: Transaction) -> Tariff | None:
    row = tx.one(
        "SELECT rate_per_minute, vat_percent, rounding, minimum_charge FROM tariff WHERE id = 1"
    )
    if row is None:
        return None
    return Tariff(Decimal(row[0]), Decimal(row[1]), Rounding(row[2]), Decimal(row[3]))


def save_tariff(tx: Transaction, at: str, tariff: Tariff) -> None:
    tx.execute(
        "INSERT INTO tariff (id, rate_per_minute, vat_percent, rounding, minimum_charge, "
        "changed) VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
        "rate_per_minute = excluded.rate_per_minute, vat_percent = excluded.vat_percent, "
        "rounding = excluded.rounding, minimum_charge = excluded.minimum_charge, "
        "changed = excluded.changed",
        (str(tariff.rate_per_minute), str(tariff.vat_percent), tariff.rounding.value,
         str(tariff.minimum_charge), at),
    )  # fmt: skip


# Writes the write-behind queue may hold: name -> statement function (tx, at, *args).
WRITES: dict[str, Callable[..., Any]] = {
    "mark_paired": mark_paired,
    "record_failed_attempt": record_failed_attempt,
    "record_consent": record_consent,
    "record_bytes_at_consent": record_bytes_at_consent,
    "record_checkpoint": record_checkpoint,
    "close_session": close_session,
    "store_verifier": store_verifier,
    "forget_verifier": forget_verifier,
    "save_bytes": save_bytes,
}
