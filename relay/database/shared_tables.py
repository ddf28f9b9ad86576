"""What relays share beyond the ledger, one function per request, each given a
transaction: the relays and their heartbeats, session numbers unique across relays, which
relay holds a session (and taking it over from a relay that is gone), rate-limit buckets
that hold across relays, and browser sign-ins.

Times relays compare are wall-clock seconds passed in by the caller (`now`): a relay's
heartbeat is stale when it is older than `stale_after` seconds by the asking relay's clock,
so relays' clocks must agree to well within that (NTP does).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from relay.database.backends import Transaction
from relay.database.errors import DatabaseError
from relay.database.records import RelayRecord, SessionLocation, Technician, hash_token
from relay.limits import Bucket, RateLimit, take_token
from relay.pairing import SESSION_NUMBER_DIGITS

MAX_NUMBER_TRIES = 64
SIGN_IN_TOKEN_BYTES = 32


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


# relays


def register_relay(
    tx: Transaction, at: str, relay_id: str, public_url: str, fingerprint: str | None, now: float
) -> None:
    tx.execute(
        "INSERT INTO relays (id, public_url, fingerprint, started, heartbeat_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET public_url = excluded.public_url, "
        "fingerprint = excluded.fingerprint, started = excluded.started, "
        "heartbeat_at = excluded.heartbeat_at",
        (relay_id, public_url, fingerprint, at, now),
    )


def heartbeat(tx: Transaction, relay_id: str, now: float) -> bool:
    """The relay is alive at `now`; False if it was never registered."""
    return tx.execute("UPDATE relays SET heartbeat_at = ? WHERE id = ?", (now, relay_id)) == 1


def retire_relay(tx: Transaction, relay_id: str, gone_since: float = 0.0) -> None:
    """A relay that stops: stale at once, so another may take its sessions over. Its last
    heartbeat becomes `gone_since` (a time already stale): sessions it kept open for a
    restart count as orphaned only from then on."""
    tx.execute("UPDATE relays SET heartbeat_at = ? WHERE id = ?", (gone_since, relay_id))


def relays(tx: Transaction, now: float, stale_after: float) -> list[RelayRecord]:
    found = tx.all(
        "SELECT id, public_url, fingerprint, started, heartbeat_at FROM relays ORDER BY id"
    )
    return [
        RelayRecord(str(r[0]), r[1], r[2], r[3], float(r[4]), float(r[4]) >= now - stale_after)
        for r in found
    ]


# session numbers


def allocate_session_number(
    tx: Transaction, relay_id: str, now: float, tombstone_seconds: float
) -> str:
    """A session number no relay uses: new, or free again because it was released, its
    session ended, or it was never bound to a session, at least `tombstone_seconds` ago."""
    free_since = now - tombstone_seconds
    low = 10 ** (SESSION_NUMBER_DIGITS - 1)
    for _ in range(MAX_NUMBER_TRIES):
        number = str(low + secrets.randbelow(9 * low))
        taken = tx.execute(
            "INSERT INTO session_numbers (number, session_id, relay_id, allocated_at, "
            "released_at) VALUES (?, NULL, ?, ?, NULL) ON CONFLICT (number) DO UPDATE SET "
            "session_id = NULL, relay_id = excluded.relay_id, "
            "allocated_at = excluded.allocated_at, released_at = NULL "
            "WHERE session_numbers.released_at <= ? "
            "OR (session_numbers.session_id IS NULL AND session_numbers.allocated_at <= ?) "
            "OR session_numbers.session_id IN "
            "(SELECT id FROM sessions WHERE ended IS NOT NULL AND ended <= ?)",
            (number, relay_id, now, free_since, free_since, _iso(free_since)),
        )
        if taken == 1:
            return number
    raise DatabaseError("no free session number was found; try again")


def release_session_number(
    tx: Transaction, number: str, now: float, relay_id: str | None = None
) -> None:
    """The session of `number` ended: after the tombstone time the number is free. With
    `relay_id`, only while that relay holds the number (not after another took it over)."""
    tx.execute(
        "UPDATE session_numbers SET released_at = ? WHERE number = ? AND released_at IS NULL "
        "AND (CAST(? AS TEXT) IS NULL OR relay_id = ?)",
        (now, number, relay_id, relay_id),
    )


def locate_session(
    tx: Transaction, number: str, now: float, stale_after: float
) -> SessionLocation | None:
    """Which relay holds the open session of `number`, if any is open."""
    row = tx.one(
        "SELECT s.id, s.session, s.relay_id, r.public_url, r.fingerprint, r.heartbeat_at, "
        "s.consent_granted FROM sessions s LEFT JOIN relays r ON r.id = s.relay_id "
        "WHERE s.session = ? AND s.ended IS NULL ORDER BY s.id DESC LIMIT 1",
        (number,),
    )
    if row is None:
        return None
    heartbeat_at = row[5]
    alive = heartbeat_at is not None and float(heartbeat_at) >= now - stale_after
    return SessionLocation(int(row[0]), row[1], row[2], row[3], row[4], alive, row[6] is not None)


def claim_session(
    tx: Transaction, session_id: int, relay_id: str, now: float, stale_after: float
) -> bool:
    """Make `relay_id` the holder of an open session: it holds it already, nobody does, or
    its holder's heartbeat is stale. True when it is now `relay_id`'s. The row's `relays`
    keeps every relay that held the session, in order."""
    claimed = tx.execute(
        "UPDATE sessions SET relay_id = ?, relays = CASE WHEN relays IS NULL OR relays = '' "
        "THEN ? WHEN relay_id = ? THEN relays ELSE relays || ' ' || ? END "
        "WHERE id = ? AND ended IS NULL AND (relay_id IS NULL OR relay_id = ? OR relay_id NOT IN "
        "(SELECT id FROM relays WHERE heartbeat_at >= ?))",
        (relay_id, relay_id, relay_id, relay_id, session_id, relay_id, now - stale_after),
    )
    if claimed == 1:
        tx.execute(
            "UPDATE session_numbers SET relay_id = ? WHERE session_id = ?", (relay_id, session_id)
        )
    return claimed == 1


def close_orphaned_sessions(
    tx: Transaction, at: str, reason: str, now: float, stale_after: float
) -> list[int]:
    """Close open sessions whose relay has been gone for `stale_after` seconds (nobody took
    them over within it); their ids."""
    orphaned = [
        int(row[0])
        for row in tx.all(
            "SELECT id FROM sessions WHERE ended IS NULL AND relay_id IS NOT NULL AND relay_id "
            "NOT IN (SELECT id FROM relays WHERE heartbeat_at >= ?)",
            (now - stale_after,),
        )
    ]
    for session_id in orphaned:
        tx.execute(
            "UPDATE sessions SET ended = ?, end_reason = ? WHERE id = ? AND ended IS NULL",
            (at, reason, session_id),
        )
        tx.execute("DELETE FROM resume_verifiers WHERE session_id = ?", (session_id,))
        tx.execute(
            "UPDATE session_numbers SET released_at = ? WHERE session_id = ? "
            "AND released_at IS NULL",
            (now, session_id),
        )
    return orphaned


# rate limits across relays


def take_rate_token(
    tx: Transaction, for_update: str, key: str, limit: RateLimit, now: float
) -> bool:
    """One try of `key` against `limit`, counted in the database (relay.limits arithmetic)."""
    if not limit.enabled:
        return True
    tx.execute(
        "INSERT INTO rate_buckets (key, tokens, updated, strikes, blocked_until) "
        "VALUES (?, ?, ?, 0, 0) ON CONFLICT (key) DO NOTHING",
        (key, float(limit.burst), now),
    )
    row = tx.one(
        f"SELECT tokens, updated, strikes, blocked_until FROM rate_buckets WHERE key = ?"
        f"{for_update}",
        (key,),
    )
    assert row is not None
    bucket = Bucket(float(row[0]), float(row[1]), int(row[2]), float(row[3]))
    allowed = take_token(bucket, limit, now)
    tx.execute(
        "UPDATE rate_buckets SET tokens = ?, updated = ?, strikes = ?, blocked_until = ? "
        "WHERE key = ?",
        (bucket.tokens, bucket.updated, bucket.strikes, bucket.blocked_until, key),
    )
    return allowed


def rate_key_blocked(tx: Transaction, key: str, now: float) -> bool:
    row = tx.one("SELECT blocked_until FROM rate_buckets WHERE key = ?", (key,))
    return row is not None and now < float(row[0])


def forget_rate_buckets(tx: Transaction, now: float, idle_seconds: float) -> int:
    """Drop buckets untouched for `idle_seconds` and not blocking (they are full again)."""
    return tx.execute(
        "DELETE FROM rate_buckets WHERE updated < ? AND blocked_until < ?",
        (now - idle_seconds, now),
    )


# browser sign-ins


def create_sign_in(
    tx: Transaction, at: str, technician_id: int, now: float, ttl_seconds: float
) -> str:
    """A sign-in token for an active technician, valid on every relay until it expires."""
    row = tx.one("SELECT revoked FROM technicians WHERE id = ?", (technician_id,))
    if row is None or row[0] is not None:
        raise DatabaseError("only an active technician can sign in")
    token = secrets.token_urlsafe(SIGN_IN_TOKEN_BYTES)
    tx.execute(
        "INSERT INTO sign_ins (token_hash, technician_id, created, expires_at) VALUES (?, ?, ?, ?)",
        (hash_token(token), technician_id, at, now + ttl_seconds),
    )
    return token


def technician_for_sign_in(tx: Transaction, token: str, now: float) -> Technician | None:
    row = tx.one(
        "SELECT t.id, t.name, t.created, t.revoked FROM sign_ins s JOIN technicians t "
        "ON t.id = s.technician_id WHERE s.token_hash = ? AND s.expires_at > ? "
        "AND t.revoked IS NULL",
        (hash_token(token), now),
    )
    return None if row is None else Technician(*row)


def end_sign_in(tx: Transaction, token: str) -> None:
    tx.execute("DELETE FROM sign_ins WHERE token_hash = ?", (hash_token(token),))


def forget_expired_sign_ins(tx: Transaction, now: float) -> int:
    return tx.execute("DELETE FROM sign_ins WHERE expires_at <= ?", (now,))
