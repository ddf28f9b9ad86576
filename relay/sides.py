"""The relay's part in a session's life: the first message of a connection (register, join
or resume), the control messages of a paired side, and a side leaving. The relay holds one
`SessionSides`; the session decisions are in `relay.pairing`, control decoding in
`protocol.control`.
Every method here runs in the one coroutine its connection allows at a time
(relay/connection.py), or from the relay's sweep.

Several relays on one database: session numbers are drawn unique across them by the
database; a join for a number another live relay holds gets `redirect` to that relay (and
nothing is counted: the code's tries are counted by the host on the relay that holds the
session); the join rate limits are counted in the database, so that they hold across
relays (in memory here while the database is unreachable).
"""

from __future__ import annotations

import time

from protocol import SUPPORTED_VERSIONS, control
from protocol.control import ErrorCode
from protocol.errors import ProtocolError
from relay.connection import NEVER, Connection
from relay.core import RelayCore
from relay.database import DatabaseError, DatabaseUnavailable
from relay.departures import Departures
from relay.farewell import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_TOO_BIG,
    FOR_PEOPLE,
    REVOKED_TEXT,
    SESSION_WIDE,
    VOID_TEXT,
    Close,
    bad_message,
    error_message,
    refusal,
)
from relay.ledger import LedgerUnavailable, Technician
from relay.limits import RateLimit, RateLimiter
from relay.other_relays import OtherRelays
from relay.pairing import TOMBSTONE_SECONDS, Refused, RelaySession, SessionState, Side
from relay.resumption import ResumeSlots


class SessionSides:
    """Serving the host and viewer sides of sessions."""

    def __init__(
        self,
        core: RelayCore,
        departures: Departures,
        slots: ResumeSlots,
        others: OtherRelays,
    ) -> None:
        self._core = core
        self._departures = departures
        self._slots = slots
        self._others = others
        self._register_per_ip = RateLimiter(core.limits.register_per_ip)
        self._join_per_ip = RateLimiter(core.limits.join_per_ip)
        self._join_per_token = RateLimiter(core.limits.join_per_token)

    # a connection's first message

    async def first(self, connection: Connection, text: str) -> None:
        connection.deadline = NEVER
        if connection.side is Side.HOST:
            first = self._first_control(text, (control.Register, control.Resume))
            if isinstance(first, control.Resume):
                await self._slots.resume(connection, Side.HOST, first, None)
            else:
                await self._register(connection)
            return
        technician: Technician = connection.technician
        connection.technician = None
        join = self._first_control(text, (control.Join, control.Resume))
        if isinstance(join, control.Resume):
            await self._slots.resume(connection, Side.VIEWER, join, technician)
        else:
            assert isinstance(join, control.Join)
            await self._join(connection, join, technician)

    def _first_control(
        self, text: str, expected: tuple[type[control.Control], ...]
    ) -> control.Control:
        message = self.decode(text)
        if not isinstance(message, expected):
            names = " or ".join(f"'{kind.TYPE}'" for kind in expected)
            raise bad_message(f"the first message here must be {names}")
        version = message.version  # type: ignore[attr-defined]
        if version not in SUPPORTED_VERSIONS:
            raise refusal(
                ErrorCode.UNSUPPORTED_VERSION,
                f"this relay speaks protocol version {max(SUPPORTED_VERSIONS)}; update the program",
            )
        return message

    def decode(self, frame: str) -> control.Control:
        if len(frame) > control.MAX_CONTROL_BYTES:
            raise Close(
                error_message(
                    ErrorCode.TOO_LARGE,
                    f"control messages are at most {control.MAX_CONTROL_BYTES} bytes",
                ),
                CLOSE_TOO_BIG,
                "control message too large",
            )
        try:
            return control.decode(frame)
        except ProtocolError as error:
            raise bad_message(str(error)) from None

    async def _register(self, connection: Connection) -> None:
        ip = connection.ip
        now = self._core.now()
        if not self._register_per_ip.allow(ip, now):
            self._core.metrics.registers_refused[ErrorCode.RATE_LIMITED.value] += 1
            self._core.log.event("register_refused", reason="rate_limited", ip=ip)
            raise refusal(
                ErrorCode.RATE_LIMITED,
                "too many new sessions from this address; wait a minute and try again",
            )
        if self._core.shared:
            await self._register_shared(connection)
            return
        try:
            session = self._core.rendezvous.register(connection, now)
        except Refused as refused:
            self._core.metrics.registers_refused[refused.code.value] += 1
            self._core.log.event("register_refused", reason=refused.code.value, ip=ip)
            raise refusal(refused.code, refused.message, CLOSE_GOING_AWAY) from None
        self._core.metrics.registers += 1
        try:
            session.ledger_id = await self._core.db(self._core.ledger.open_session, session.number)
        except BaseException:
            self._core.rendezvous.retire(
                session, self._core.now(), ErrorCode.EXPIRED, "not registered"
            )
            raise
        self._registered(connection, session)

    async def _register_shared(self, connection: Connection) -> None:
        """One of several relays: the number is drawn by the database, unique across them,
        together with the session's ledger row."""
        core = self._core
        if core.rendezvous.full():
            self._refuse_register(ErrorCode.SERVER_FULL, connection.ip)
            raise refusal(
                ErrorCode.SERVER_FULL, "the relay is full, please try again later", CLOSE_GOING_AWAY
            )
        try:
            number, ledger_id = await core.db(
                core.ledger.register_session, core.relay_id, time.time(), TOMBSTONE_SECONDS
            )
        except LedgerUnavailable:
            self._refuse_register(ErrorCode.DATABASE_UNAVAILABLE, connection.ip)
            raise
        except DatabaseError:  # no free number found: as good as full
            self._refuse_register(ErrorCode.SERVER_FULL, connection.ip)
            raise refusal(
                ErrorCode.SERVER_FULL, "no session number is free; try again", CLOSE_GOING_AWAY
            ) from None
        try:
            session = core.rendezvous.register(connection, core.now(), number=number)
        except Refused as refused:
            self._refuse_register(refused.code, connection.ip)
            core.record(core.ledger.close_session, ledger_id, "expired", 0, 0)
            core.record(core.ledger.release_session_number, number, time.time())
            raise refusal(refused.code, refused.message, CLOSE_GOING_AWAY) from None
        session.ledger_id = ledger_id
        core.metrics.registers += 1
        self._registered(connection, session)

    def _refuse_register(self, code: ErrorCode, ip: str) -> None:
        self._core.metrics.registers_refused[code.value] += 1
        self._core.log.event("register_refused", reason=code.value, ip=ip)

    def _registered(self, connection: Connection, session: RelaySession) -> None:
        ip = connection.ip
        self._core.log.event(
            "session_registered", session=session.number, session_id=session.ledger_id, ip=ip
        )
        self._departures.start_side(
            session,
            Side.HOST,
            connection,
            first=control.Registered(
                session=session.number,
                expires_in=int(self._core.limits.code_ttl_seconds),
                **control.tariff_fields(self._core.config.tariff),
                relays=self._core.told_relays(),
            ),
        )

    async def _join(
        self, connection: Connection, join: control.Join, technician: Technician
    ) -> None:
        ip = connection.ip
        if not await self._join_allowed(ip, technician):
            self._refuse_join(ErrorCode.RATE_LIMITED, ip, technician)
            raise refusal(ErrorCode.RATE_LIMITED, "too many joins; wait a minute and try again")
        if await self._core.db(self._core.ledger.revoked_among, [technician.id]):
            self._refuse_join(ErrorCode.REVOKED, ip, technician)
            raise refusal(ErrorCode.REVOKED, REVOKED_TEXT)
        try:
            session = self._core.rendezvous.find_for_join(join.session, self._core.now())
        except Refused as refused:
            if refused.code is ErrorCode.UNKNOWN_SESSION:
                await self._others.redirect_if_elsewhere(join.session, "join", ip)
            self._refuse_join(refused.code, ip, technician)
            raise refusal(refused.code, refused.message, CLOSE_NORMAL) from None
        session.pair(connection, technician.id, technician.name, self._core.now())
        self._core.metrics.joins += 1
        self._core.log.event(
            "session_paired",
            session=session.number,
            session_id=session.ledger_id,
            technician=technician.name,
            ip=ip,
        )
        self._core.record(
            self._core.ledger.mark_paired, session.ledger_id, technician.name, join.customer
        )
        self._departures.start_side(
            session,
            Side.VIEWER,
            connection,
            first=control.Joined(
                technician=technician.name,
                **control.tariff_fields(self._core.config.tariff),
                relays=self._core.told_relays(),
            ),
            then_tell=(Side.HOST, control.PeerJoined(technician=technician.name)),
        )

    async def _join_allowed(self, ip: str, technician: Technician) -> bool:
        """The join rate limits, per address and per technician: counted in the database
        when relays share one (a guesser cannot spread joins over relays), else, and while
        the database is unreachable, here."""
        core = self._core
        limits = core.limits
        checks: list[tuple[RateLimiter, RateLimit, object, str]] = [
            (self._join_per_ip, limits.join_per_ip, ip, f"join_ip:{ip}"),
            (self._join_per_token, limits.join_per_token, technician.id,
             f"join_technician:{technician.id}"),
        ]  # fmt: skip
        for local, limit, key, shared_key in checks:
            if core.shared and limit.enabled:
                try:
                    allowed = await core.db(
                        core.ledger.take_rate_token, shared_key, limit, time.time()
                    )
                except DatabaseUnavailable:
                    allowed = local.allow(key, core.now())
            else:
                allowed = local.allow(key, core.now())
            if not allowed:
                return False
        return True

    def _refuse_join(self, code: ErrorCode, ip: str, technician: Technician) -> None:
        self._core.metrics.joins_refused[code.value] += 1
        self._core.log.event("join_refused", reason=code.value, ip=ip, technician=technician.name)

    # control messages of a side

    async def on_control(self, session: RelaySession, side: Side, message: control.Control) -> None:
        if isinstance(message, control.Checkpoint):
            self._core.record(
                self._core.ledger.record_checkpoint,
                session.ledger_id,
                side.value,
                message.records,
                message.head,
                message.file_records,
                bytes.fromhex(message.file_head) if message.file_head else None,
            )
        elif isinstance(message, control.End):
            ended_by = side.other if message.peer_ended else side
            raise Close(
                None,
                CLOSE_NORMAL,
                "session ended",
                end_reason=f"{ended_by.value}_ended",
                notify_other=(control.End(reason=message.reason), False),
            )
        elif session.state is SessionState.ENDED:
            return  # in flight when the session ended
        elif isinstance(message, control.ResumeVerifier):
            if session.store_verifier(side, message.epoch, message.verifier):
                self._core.record(
                    self._core.ledger.store_verifier,
                    session.ledger_id,
                    side.value,
                    message.epoch,
                    message.verifier,
                )
        elif side is Side.HOST and isinstance(message, control.FailedAttempt):
            await self._on_failed_attempt(session)
        elif side is Side.HOST and isinstance(message, control.Consent):
            first_answer = session.consent is None
            try:
                session.record_consent(message.level)
            except ProtocolError as error:
                raise bad_message(str(error)) from None
            if first_answer:
                self._core.record(
                    self._core.ledger.record_bytes_at_consent,
                    session.ledger_id,
                    session.bytes_forwarded[Side.HOST],
                    session.bytes_forwarded[Side.VIEWER],
                )
            self._core.log.event(
                "consent",
                session=session.number,
                session_id=session.ledger_id,
                level=message.level.value,
            )
            self._core.record(self._core.ledger.record_consent, session.ledger_id, message)
        else:
            raise bad_message(f"a {side.value} may not send '{message.TYPE}' here")

    async def _on_failed_attempt(self, session: RelaySession) -> None:
        try:
            void = session.record_failed_attempt()
        except ProtocolError as error:
            raise bad_message(str(error)) from None
        self._core.metrics.failed_attempts += 1
        self._core.log.event(
            "failed_attempt",
            session=session.number,
            session_id=session.ledger_id,
            count=session.failed_attempts,
        )
        self._core.record(
            self._core.ledger.record_failed_attempt, session.ledger_id, session.failed_attempts
        )
        if void:
            raise Close(
                control.Void(),
                CLOSE_NORMAL,
                "session void",
                end_reason="void",
                notify_other=(
                    error_message(ErrorCode.VOID, VOID_TEXT),
                    True,
                ),
            )
        viewer = session.viewer
        if viewer is not None:
            await self.detach(session, Side.VIEWER, viewer, "wrong_code", None)
            viewer.close(CLOSE_NORMAL, "wrong code")

    # leaving

    async def leave(self, connection: Connection, close: Close) -> None:
        """`connection` must go: its side leaves its session (if any), then the farewell."""
        session, side = connection.session, connection.side
        if session is not None and side is not None:
            end_reason = close.end_reason or f"{side.value}_bad_message"
            await self.detach(session, side, connection, end_reason, close.notify_other)
        self._departures.farewell(connection, close)

    async def detach(
        self,
        session: RelaySession,
        side: Side,
        connection: Connection,
        end_reason: str,
        notify_other: tuple[control.Control, bool] | None,
    ) -> None:
        """`side` leaves `session`: before consent a viewer's seat is freed for another try,
        otherwise the session ends. Idempotent: a side that already left changes nothing."""
        if session.state is SessionState.ENDED or session.connection(side) is not connection:
            return
        if self._core.stopping and session.ledger_id in self._core.kept_at_stop:
            return  # kept open for a resume after the restart
        other = session.connection(side.other)
        if other is not None:
            other.resume_reading_for_peer()
        if end_reason == f"{side.value}_left" and session.may_resume(side):
            await self._slots.keep_slot(session, side)
            return
        people = FOR_PEOPLE.get(end_reason, "the other side left")
        tell = notify_other or (control.PeerLeft(reason=people), False)
        if side is Side.VIEWER and session.viewer_may_retry() and end_reason not in SESSION_WIDE:
            session.unpair()
            self._core.log.event(
                "viewer_left_before_consent",
                session=session.number,
                session_id=session.ledger_id,
                reason=end_reason,
            )
            self._departures.notify(session.host, tell[0], close=tell[1])
            return
        await self._departures.end_session(session, end_reason, {side.other: tell})
