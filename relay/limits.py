"""The relay's limits: named defaults with units, the settings that override them, and
the rate limiter that enforces the per-IP and per-token limits with back-off.

Before a connection is admitted (its register, join or resume accepted) it may send one
message of at most `max_first_message_bytes`, and one address has at most
`max_unadmitted_per_ip` such connections at once; more wait unread (relay/admission.py).
Worst-case buffering per session: one partial message of at most `max_message_bytes` being
received per side, what one read brings in (a few frames at most), and `write_limit_bytes`
plus one forwarded message of outgoing data per side; above `write_limit_bytes` the sending
side is not read until the receiving side drains (relay/connection.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Messages: the client side allows frame updates of 16 MiB plus channel and framing overhead.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024 + 4096
# Before admission: a register, join or resume is a control message of a few hundred bytes
# (protocol.control.MAX_CONTROL_BYTES); a larger frame is refused on its header, unread.
MAX_FIRST_MESSAGE_BYTES = 4096
WRITE_LIMIT_BYTES = 64 * 1024

# Sessions and connections (connections without a session are bounded by the handshake
# timeout; this caps them all).
MAX_SESSIONS = 5_000
MAX_CONNECTIONS = 12_000
MAX_TLS_HANDSHAKES = 512  # in progress at once; connections beyond wait unread
MAX_TLS_HANDSHAKES_PER_IP = 16  # idem, from one address (a handshake takes milliseconds)
# Connections not yet admitted (from accept to an accepted register, join or resume), per
# address; connections beyond wait unread for a slot (relay/admission.py).
MAX_UNADMITTED_PER_IP = 16
# Waiting, unread, for a handshake or admission slot: per address and in all (beyond, a
# connection is closed at accept, or accepting pauses), each at most this long.
MAX_WAITING_PER_IP = 128
MAX_WAITING_CONNECTIONS = 2048
WAITING_TIMEOUT_SECONDS = 10.0
CODE_TTL_SECONDS = 600.0

# Timeouts
OPEN_TIMEOUT_SECONDS = 10.0  # TLS and HTTP upgrade
HANDSHAKE_TIMEOUT_SECONDS = 10.0  # from the upgrade to the first register or join
IDLE_TIMEOUT_SECONDS = 1800.0  # a paired session with no message in either direction
SEND_STALL_TIMEOUT_SECONDS = 30.0  # a receiver that does not drain a forwarded message
LINGER_SECONDS = 10.0  # after a session ended, for the remaining side's final checkpoint
CLOSE_TIMEOUT_SECONDS = 5.0
PING_INTERVAL_SECONDS = 20.0
PING_TIMEOUT_SECONDS = 20.0
REVOCATION_SWEEP_SECONDS = 5.0
SHUTDOWN_GRACE_SECONDS = 5.0
# How long a consented session's slot is kept for a side whose connection dropped (and,
# after a relay restart, for both): the side may resume within it without a new code.
RESUME_GRACE_SECONDS = 60.0

# Rate limits: a bucket of `burst` tries refilled at `per_minute`; refusals back off.
REGISTER_PER_IP_PER_MINUTE = 30.0
REGISTER_PER_IP_BURST = 10
JOIN_PER_IP_PER_MINUTE = 30.0
JOIN_PER_IP_BURST = 10
JOIN_PER_TOKEN_PER_MINUTE = 20.0
JOIN_PER_TOKEN_BURST = 10
RESUME_PER_IP_PER_MINUTE = 30.0
RESUME_PER_IP_BURST = 10
AUTH_FAILURES_PER_IP_PER_MINUTE = 10.0
AUTH_FAILURES_PER_IP_BURST = 5
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0
RATE_LIMIT_MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`burst` tries at once, refilled at `per_minute`; 0 per minute disables the limit."""

    per_minute: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0


@dataclass(frozen=True, slots=True)
class Limits:
    """Every limit of a running relay; the defaults are the safe ones above."""

    max_message_bytes: int = MAX_MESSAGE_BYTES
    max_first_message_bytes: int = MAX_FIRST_MESSAGE_BYTES
    write_limit_bytes: int = WRITE_LIMIT_BYTES
    max_sessions: int = MAX_SESSIONS
    max_connections: int = MAX_CONNECTIONS
    max_tls_handshakes: int = MAX_TLS_HANDSHAKES
    max_tls_handshakes_per_ip: int = MAX_TLS_HANDSHAKES_PER_IP
    max_unadmitted_per_ip: int = MAX_UNADMITTED_PER_IP
    max_waiting_per_ip: int = MAX_WAITING_PER_IP
    max_waiting_connections: int = MAX_WAITING_CONNECTIONS
    waiting_timeout_seconds: float = WAITING_TIMEOUT_SECONDS
    code_ttl_seconds: float = CODE_TTL_SECONDS
    open_timeout_seconds: float = OPEN_TIMEOUT_SECONDS
    handshake_timeout_seconds: float = HANDSHAKE_TIMEOUT_SECONDS
    idle_timeout_seconds: float = IDLE_TIMEOUT_SECONDS
    send_stall_timeout_seconds: float = SEND_STALL_TIMEOUT_SECONDS
    linger_seconds: float = LINGER_SECONDS
    close_timeout_seconds: float = CLOSE_TIMEOUT_SECONDS
    ping_interval_seconds: float | None = PING_INTERVAL_SECONDS
    ping_timeout_seconds: float | None = PING_TIMEOUT_SECONDS
    revocation_sweep_seconds: float = REVOCATION_SWEEP_SECONDS
    shutdown_grace_seconds: float = SHUTDOWN_GRACE_SECONDS
    resume_grace_seconds: float = RESUME_GRACE_SECONDS
    register_per_ip: RateLimit = field(
        default=RateLimit(REGISTER_PER_IP_PER_MINUTE, REGISTER_PER_IP_BURST)
    )
    join_per_ip: RateLimit = field(default=RateLimit(JOIN_PER_IP_PER_MINUTE, JOIN_PER_IP_BURST))
    join_per_token: RateLimit = field(
        default=RateLimit(JOIN_PER_TOKEN_PER_MINUTE, JOIN_PER_TOKEN_BURST)
    )
    resume_per_ip: RateLimit = field(
        default=RateLimit(RESUME_PER_IP_PER_MINUTE, RESUME_PER_IP_BURST)
    )
    auth_failures_per_ip: RateLimit = field(
        default=RateLimit(AUTH_FAILURES_PER_IP_PER_MINUTE, AUTH_FAILURES_PER_IP_BURST)
    )


UNLIMITED = RateLimit(0.0, 0)


@dataclass(slots=True)
class Bucket:
    """One key's token bucket (kept in memory here, in the database for limits that must
    hold across relays: relay/database/shared_tables.py)."""

    tokens: float
    updated: float
    strikes: int = 0
    blocked_until: float = -math.inf


def take_token(bucket: Bucket, limit: RateLimit, now: float) -> bool:
    """Refill `bucket` up to `now` and take one try from it; a refused try while it is
    empty blocks it for a back-off that doubles with each further refused try."""
    refill = (now - bucket.updated) * limit.per_minute / 60.0
    bucket.tokens = min(float(limit.burst), bucket.tokens + refill)
    bucket.updated = now
    if now >= bucket.blocked_until and bucket.tokens >= 1.0:
        bucket.tokens -= 1.0
        bucket.strikes = 0
        return True
    backoff = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2.0**bucket.strikes)
    bucket.strikes = min(bucket.strikes + 1, 32)
    bucket.blocked_until = max(bucket.blocked_until, now + backoff)
    return False


class RateLimiter:
    """A token bucket per key (an IP address or a technician); time is passed in.

    A refused try while the bucket is empty blocks the key for a back-off that doubles
    with each further refused try (from BACKOFF_FIRST_SECONDS up to BACKOFF_MAX_SECONDS), so
    hammering only makes the wait longer.
    """

    def __init__(self, limit: RateLimit, max_keys: int = RATE_LIMIT_MAX_KEYS) -> None:
        self._limit = limit
        self._max_keys = max_keys
        self._buckets: dict[object, Bucket] = {}

    def allow(self, key: object, now: float) -> bool:
        if not self._limit.enabled:
            return True
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[key] = Bucket(float(self._limit.burst), now)
        return take_token(bucket, self._limit, now)

    def is_blocked(self, key: object, now: float) -> bool:
        """Whether `key` is inside a back-off period (without counting a try)."""
        bucket = self._buckets.get(key)
        return bucket is not None and now < bucket.blocked_until

    def _make_room(self, now: float) -> None:
        """Forget keys whose bucket is full again, so memory stays bounded under a flood."""
        if len(self._buckets) < self._max_keys:
            return
        seconds_to_full = 60.0 * self._limit.burst / self._limit.per_minute
        for key, bucket in list(self._buckets.items()):
            if now - bucket.updated >= seconds_to_full and now >= bucket.blocked_until:
                del self._buckets[key]
        while len(self._buckets) >= self._max_keys:
            self._buckets.pop(next(iter(self._buckets)))
