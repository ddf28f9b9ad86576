"""Rendezvous and pairing: the relay's sessions as state machines, without any I/O.

Time is passed in (monotonic seconds). Connections are opaque handles: this module decides,
the server shell sends and closes.

A session's life:
    WAITING --join--> PAIRED --viewer leaves before consent / failed attempt--> WAITING
    PAIRED --consent reported, then either side leaves or ends--> ENDED
    WAITING --host leaves / ends / code expires / third failed attempt--> ENDED
A viewer leaving before the host reported any consent puts the session back to WAITING, so
a technician who mistyped the code can try again (up to MAX_FAILED_ATTEMPTS wrong tries).

Resuming (protocol/resume.py): after consent, a side whose connection drops while the
relay holds its resume verifier leaves the session AWAITING_RESUME instead of ending it:
    PAIRED --a side with a verifier drops--> AWAITING_RESUME --it resumes--> PAIRED (epoch+1)
    AWAITING_RESUME --grace period over / the other side ends--> ENDED
A relay that restarts puts sessions from its ledger straight into AWAITING_RESUME with both
sides away; so does a relay that takes a session over from another relay that is gone
(several relays on one database). A secret opens its verifier once; a resumed side gives a
new verifier for the new epoch, and until it has, its binary frames (sealed in the old
epoch) are not forwarded.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field
from typing import Any

from protocol.control import ErrorCode, ReportedConsent
from protocol.errors import ProtocolError
from protocol.resume import secret_matches

MAX_FAILED_ATTEMPTS = 3
SESSION_NUMBER_DIGITS = 6
TOMBSTONE_SECONDS = 600.0  # how long a used, void or expired number answers with its reason
MAX_TOMBSTONES = 100_000


class SessionState(enum.Enum):
    WAITING = "waiting"
    PAIRED = "paired"
    AWAITING_RESUME = "awaiting resume"
    ENDED = "ended"


class Side(enum.Enum):
    HOST = "host"
    VIEWER = "viewer"

    @property
    def other(self) -> Side:
        return Side.VIEWER if self is Side.HOST else Side.HOST


class Refused(Exception):
    """A register or join the relay refuses, with the error code the client gets."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True, eq=False)
class RelaySession:
    """One registered session number and whoever is connected to it."""

    number: str
    host: Any
    registered_at: float
    expires_at: float
    ledger_id: int = 0
    state: SessionState = SessionState.WAITING
    viewer: Any = None
    technician_id: int | None = None
    technician_name: str = ""
    failed_attempts: int = 0
    consent: ReportedConsent | None = None
    last_activity: float = 0.0
    ended_at: float = 0.0
    pairings: int = 0
    bytes_forwarded: dict[Side, int] = field(default_factory=lambda: {Side.HOST: 0, Side.VIEWER: 0})
    epoch: int = 0
    verifiers: dict[Side, tuple[int, bytes]] = field(default_factory=dict)
    awaiting_switch: set[Side] = field(default_factory=set)
    resume_deadline: float = 0.0
    # Taken over from the ledger, and why it ends if nobody comes back in the grace period:
    # "relay_restarted" (this relay restarted) or "relay_lost" (its relay died); "" if not.
    restored_as: str = ""

    def connection(self, side: Side) -> Any:
        return self.host if side is Side.HOST else self.viewer

    def _set_connection(self, side: Side, connection: Any) -> None:
        if side is Side.HOST:
            self.host = connection
        else:
            self.viewer = connection

    # -- resuming -----------------------------------------------------------------------

    def store_verifier(self, side: Side, epoch: int, verifier: bytes) -> bool:
        """`side` gives the hash of its resume secret for `epoch`. Kept (True) only for the
        current epoch of a paired session: one that crossed a resume or an unpairing in
        flight is stale, and harmless to drop."""
        if self.state not in (SessionState.PAIRED, SessionState.AWAITING_RESUME):
            return False
        if epoch != self.epoch:
            return False
        self.verifiers[side] = (epoch, verifier)
        self.awaiting_switch.discard(side)
        return True

    def may_resume(self, side: Side) -> bool:
        """Whether `side`, dropping now, keeps its slot: consent granted and a verifier held."""
        return (
            self.state in (SessionState.PAIRED, SessionState.AWAITING_RESUME)
            and self.consent in (ReportedConsent.VIEW, ReportedConsent.CONTROL)
            and side in self.verifiers
        )

    def await_resume(self, side: Side, now: float, grace_seconds: float) -> None:
        """`side`'s connection dropped: keep its slot until the grace period is over."""
        if not self.may_resume(side):
            raise self._illegal("await_resume")
        self._set_connection(side, None)
        self.awaiting_switch.discard(side)
        if self.state is SessionState.PAIRED:
            self.state = SessionState.AWAITING_RESUME
            self.resume_deadline = now + grace_seconds

    def away(self) -> list[Side]:
        """The sides whose slot is kept for them (none unless AWAITING_RESUME)."""
        if self.state is not SessionState.AWAITING_RESUME:
            return []
        return [side for side in Side if self.connection(side) is None]

    def resume_matches(self, side: Side, epoch: int, secret: bytes) -> bool:
        """The relay's check of a resume: the secret of `side`'s verifier for `epoch`."""
        if self.state not in (SessionState.PAIRED, SessionState.AWAITING_RESUME):
            return False
        held = self.verifiers.get(side)
        if held is None:
            secret_matches(secret, bytes(32))  # the same work either way
            return False
        held_epoch, verifier = held
        return secret_matches(secret, verifier) and held_epoch == epoch

    def reattach(self, side: Side, connection: Any, now: float) -> bool:
        """`side` proved itself: its slot is its again and its verifier is used up. True
        when both sides are back (the session is PAIRED in a new epoch)."""
        if self.state not in (SessionState.PAIRED, SessionState.AWAITING_RESUME):
            raise self._illegal("resume")
        self.verifiers.pop(side, None)
        self._set_connection(side, connection)
        self.last_activity = now
        if self.state is SessionState.PAIRED:
            # The side's old connection had not been noticed as gone: resume at once.
            self.state = SessionState.AWAITING_RESUME
        if self.connection(side.other) is None:
            return False
        self.state = SessionState.PAIRED
        self.epoch += 1
        self.awaiting_switch = {Side.HOST, Side.VIEWER}
        self.restored_as = ""
        return True

    def forwards_from(self, side: Side) -> bool:
        """Binary frames of `side` go to the other side (not while it is still sealing in
        an old epoch)."""
        return self.state is SessionState.PAIRED and side not in self.awaiting_switch

    def _illegal(self, event: str) -> ProtocolError:
        return ProtocolError(f"'{event}' is not allowed while the session is {self.state.value}")

    def is_expired(self, now: float) -> bool:
        return self.state is SessionState.WAITING and now >= self.expires_at

    def pair(self, viewer: Any, technician_id: int, technician_name: str, now: float) -> None:
        if self.state is not SessionState.WAITING:
            raise self._illegal("join")
        self.state = SessionState.PAIRED
        self.viewer = viewer
        self.technician_id = technician_id
        self.technician_name = technician_name
        self.last_activity = now
        self.pairings += 1

    def record_failed_attempt(self) -> bool:
        """Count a wrong code the host detected; True when the session is now void."""
        if self.state is SessionState.ENDED or self.consent is not None:
            raise self._illegal("failed_attempt")
        self.failed_attempts += 1
        return self.failed_attempts >= MAX_FAILED_ATTEMPTS

    def unpair(self) -> None:
        """The viewer is gone before consent: wait for another try with the same code."""
        if self.state is not SessionState.PAIRED or self.consent is not None:
            raise self._illegal("unpair")
        self.state = SessionState.WAITING
        self.viewer = None
        self.technician_id = None
        self.technician_name = ""
        self.verifiers.clear()

    def viewer_may_retry(self) -> bool:
        return self.state is SessionState.PAIRED and self.consent is None

    def record_consent(self, level: ReportedConsent) -> None:
        if self.state not in (SessionState.PAIRED, SessionState.AWAITING_RESUME):
            raise self._illegal("consent")
        self.consent = level

    def end(self, now: float) -> None:
        if self.state is not SessionState.ENDED:
            self.state = SessionState.ENDED
            self.ended_at = now


@dataclass(frozen=True, slots=True)
class _Tombstone:
    code: ErrorCode
    message: str
    until: float


class Rendezvous:
    """The table of live sessions by session number, and the numbers recently retired."""

    def __init__(self, *, code_ttl_seconds: float, max_sessions: int) -> None:
        self._code_ttl_seconds = code_ttl_seconds
        self._max_sessions = max_sessions
        self._live: dict[str, RelaySession] = {}
        self._tombstones: dict[str, _Tombstone] = {}

    def __len__(self) -> int:
        return len(self._live)

    def sessions(self) -> list[RelaySession]:
        return list(self._live.values())

    def count(self, state: SessionState) -> int:
        return sum(1 for session in self._live.values() if session.state is state)

    def full(self) -> bool:
        return len(self._live) >= self._max_sessions

    def register(self, host: Any, now: float, number: str | None = None) -> RelaySession:
        """A new session for `host`, with a number drawn here, or `number` (drawn unique
        across relays by the database)."""
        if self.full():
            raise Refused(ErrorCode.SERVER_FULL, "the relay is full, please try again later")
        self._forget_tombstones(now)
        if number is None:
            number = self._new_number()
        elif number in self._live:
            raise Refused(ErrorCode.SERVER_FULL, "the session number is in use here")
        else:
            self._tombstones.pop(number, None)  # free again across the relays
        session = RelaySession(
            number=number,
            host=host,
            registered_at=now,
            expires_at=now + self._code_ttl_seconds,
            last_activity=now,
        )
        self._live[number] = session
        return session

    def _new_number(self) -> str:
        low = 10 ** (SESSION_NUMBER_DIGITS - 1)
        while True:
            number = str(low + secrets.randbelow(9 * low))
            if number not in self._live and number not in self._tombstones:
                return number

    def find_for_join(self, number: str, now: float) -> RelaySession:
        """The session a viewer may join, or Refused with the specific reason."""
        session = self._live.get(number)
        if session is None:
            tombstone = self._tombstones.get(number)
            if tombstone is not None and now < tombstone.until:
                raise Refused(tombstone.code, tombstone.message)
            raise Refused(ErrorCode.UNKNOWN_SESSION, "no session with this code is waiting")
        if session.is_expired(now):
            raise Refused(ErrorCode.EXPIRED, "this code has expired, ask for a new one")
        if session.state is not SessionState.WAITING:
            raise Refused(ErrorCode.BUSY, "a technician is already connected to this session")
        return session

    def find_for_resume(self, number: str) -> RelaySession:
        """The session a side may resume; the same refusal for every reason (no oracle)."""
        session = self._live.get(number)
        if session is None or session.state not in (
            SessionState.PAIRED,
            SessionState.AWAITING_RESUME,
        ):
            raise Refused(ErrorCode.RESUME_REFUSED, "this session cannot be resumed")
        return session

    def restore(self, session: RelaySession) -> None:
        """Put a session taken over from the ledger (after a restart) on the table."""
        if session.number in self._live or len(self._live) >= self._max_sessions:
            raise Refused(ErrorCode.SERVER_FULL, "the session cannot be restored")
        self._live[session.number] = session

    def retire(self, session: RelaySession, now: float, code: ErrorCode, message: str) -> None:
        """Take an ended session off the table; its number answers `code` for a while."""
        session.end(now)
        if self._live.get(session.number) is session:
            del self._live[session.number]
            if len(self._tombstones) >= MAX_TOMBSTONES:
                self._tombstones.pop(next(iter(self._tombstones)))
            self._tombstones[session.number] = _Tombstone(code, message, now + TOMBSTONE_SECONDS)

    def _forget_tombstones(self, now: float) -> None:
        while self._tombstones:
            number, tombstone = next(iter(self._tombstones.items()))
            if now < tombstone.until:
                break
            del self._tombstones[number]
