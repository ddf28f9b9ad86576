"""The relay's part in a session's life: the first message of a connection (register, join
or resume), the control messages of a paired side, and a side leaving. `Relay` mixes this
in; the session decisions are in `relay.pairing`, control decoding in `protocol.control`.
Every method here runs in the one coroutine its connection allows at a time
(relay/connection.py), or from the relay's sweep.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from protocol import SUPPORTED_VERSIONS, control
from protocol.control import ErrorCode
from protocol.errors import ProtocolError
from relay.connection import NEVER, Connection
from relay.farewell import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_TOO_BIG,
    FOR_PEOPLE,
    MAX_CLOSE_REASON_BYTES,
    REVOKED_TEXT,
    SESSION_WIDE,
    VOID_TEXT,
    Close,
    bad_message,
    error_message,
    refusal,
)
from relay.ledger import Technician
from relay.pairing import Refused, RelaySession, SessionState, Side

if TYPE_CHECKING:
    from relay.server import Relay


class SessionSides:
    """Serving the host and viewer sides of sessions, for `Relay`."""

    # a connection's first message

    async def _first(self: Relay, connection: Connection, text: str) -> None:
        connection.deadline = NEVER
        if connection.side is Side.HOST:
            first = self._first_control(text, (control.Register, control.Resume))
            if isinstance(first, control.Resume):
                await self._resume(connection, Side.HOST, first, None)
            else:
                await self._register(connection)
            return
        technician: Technician = connection.technician
        connection.technician = None
        join = self._first_control(text, (control.Join, control.Resume))
        if isinstance(join, control.Resume):
            await self._resume(connection, Side.VIEWER, join, technician)
        else:
            assert isinstance(join, control.Join)
            await self._join(connection, join, technician)

    def _first_control(
        self: Relay, text: str, expected: tuple[type[control.Control], ...]
    ) -> control.Control:
        message = self._decode(text)
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

    def _decode(self: Relay, frame: str) -> control.Control:
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

    async def _register(self: Relay, connection: Connection) -> None:
        ip = connection.ip
        now = self.now()
        if not self._register_per_ip.allow(ip, now):
            self.metrics.registers_refused[ErrorCode.RATE_LIMITED.value] += 1
            self.log.event("register_refused", reason="rate_limited", ip=ip)
            raise refusal(
                ErrorCode.RATE_LIMITED,
                "too many new sessions from this address; wait a minute and try again",
            )
        try:
            session = self.rendezvous.register(connection, now)
        except Refused as refused:
            self.metrics.registers_refused[refused.code.value] += 1
            self.log.event("register_refused", reason=refused.code.value, ip=ip)
            raise refusal(refused.code, refused.message, CLOSE_GOING_AWAY) from None
        self.metrics.registers += 1
        try:
            session.ledger_id = await self.db(self.ledger.open_session, session.number)
        except BaseException:
            self.rendezvous.retire(session, self.now(), ErrorCode.EXPIRED, "not registered")
            raise
        self.log.event("session_registered", session_id=session.ledger_id, ip=ip)
        self._start_side(
            session,
            Side.HOST,
            connection,
            first=control.Registered(
                session=session.number,
                expires_in=int(self.limits.code_ttl_seconds),
                **control.tariff_fields(self.config.tariff),
            ),
        )

    async def _join(
        self: Relay, connection: Connection, join: control.Join, technician: Technician
    ) -> None:
        ip = connection.ip
        now = self.now()
        if not self._join_per_ip.allow(ip, now) or not self._join_per_token.allow(
            technician.id, now
        ):
            self._refuse_join(ErrorCode.RATE_LIMITED, ip, technician)
            raise refusal(ErrorCode.RATE_LIMITED, "too many joins; wait a minute and try again")
        if await self.db(self.ledger.revoked_among, [technician.id]):
            self._refuse_join(ErrorCode.REVOKED, ip, technician)
            raise refusal(ErrorCode.REVOKED, REVOKED_TEXT)
        try:
            session = self.rendezvous.find_for_join(join.session, self.now())
        except Refused as refused:
            self._refuse_join(refused.code, ip, technician)
            raise refusal(refused.code, refused.message, CLOSE_NORMAL) from None
        session.pair(connection, technician.id, technician.name, self.now())
        self.metrics.joins += 1
        self.log.event(
            "session_paired", session_id=session.ledger_id, technician=technician.name, ip=ip
        )
        self._record(self.ledger.mark_paired, session.ledger_id, technician.name, join.customer)
        self._start_side(
            session,
            Side.VIEWER,
            connection,
            first=control.Joined(**control.tariff_fields(self.config.tariff)),
            then_tell=(Side.HOST, control.PeerJoined(technician=technician.name)),
        )

    def _refuse_join(self: Relay, code: ErrorCode, ip: str, technician: Technician) -> None:
        self.metrics.joins_refused[code.value] += 1
        self.log.event("join_refused", reason=code.value, ip=ip, technician=technician.name)

    def _start_side(
        self: Relay,
        session: RelaySession,
        side: Side,
        connection: Connection,
        *,
        first: control.Control,
        then_tell: tuple[Side, control.Control] | None = None,
    ) -> None:
        """`connection` is `side` of `session` from now on; it leaves through `_leave` or,
        when the connection is lost, `on_lost`."""
        connection.session = session
        connection.side = side
        connection.send_text(control.encode(first))
        if then_tell is not None:
            self._notify(session.connection(then_tell[0]), then_tell[1], close=False)

    # control messages of a side

    async def _on_control(
        self: Relay, session: RelaySession, side: Side, message: control.Control
    ) -> None:
        if isinstance(message, control.Checkpoint):
            self._record(
                self.ledger.record_checkpoint,
                session.ledger_id,
                side.value,
                message.records,
                message.head,
                message.file_records,
                bytes.fromhex(message.file_head) if message.file_head else None,
            )
        elif isinstance(message, control.End):
            raise Close(
                None,
                CLOSE_NORMAL,
                "session ended",
                end_reason=f"{side.value}_ended",
                notify_other=(control.End(reason=message.reason), False),
            )
        elif session.state is SessionState.ENDED:
            return  # in flight when the session ended
        elif isinstance(message, control.ResumeVerifier):
            if session.store_verifier(side, message.epoch, message.verifier):
                self._record(
                    self.ledger.store_verifier,
                    session.ledger_id,
                    side.value,
                    message.epoch,
                    message.verifier,
                )
        elif side is Side.HOST and isinstance(message, control.FailedAttempt):
            await self._on_failed_attempt(session)
        elif side is Side.HOST and isinstance(message, control.Consent):
            try:
                session.record_consent(message.level)
            except ProtocolError as error:
                raise bad_message(str(error)) from None
            self.log.event("consent", session_id=session.ledger_id, level=message.level.value)
            self._record(self.ledger.record_consent, session.ledger_id, message)
        else:
            raise bad_message(f"a {side.value} may not send '{message.TYPE}' here")

    async def _on_failed_attempt(self: Relay, session: RelaySession) -> None:
        try:
            void = session.record_failed_attempt()
        except ProtocolError as error:
            raise bad_message(str(error)) from None
        self.metrics.failed_attempts += 1
        self.log.event(
            "failed_attempt", session_id=session.ledger_id, count=session.failed_attempts
        )
        self._record(self.ledger.record_failed_attempt, session.ledger_id)
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
            await self._detach(session, Side.VIEWER, viewer, "wrong_code", None)
            viewer.close(CLOSE_NORMAL, "wrong code")

    # leaving

    async def _leave(self: Relay, connection: Connection, close: Close) -> None:
        """`connection` must go: its side leaves its session (if any), then the farewell."""
        session, side = connection.session, connection.side
        if session is not None and side is not None:
            end_reason = close.end_reason or f"{side.value}_bad_message"
            await self._detach(session, side, connection, end_reason, close.notify_other)
        self._farewell(connection, close)

    def _farewell(self: Relay, connection: Connection, close: Close) -> None:
        if close.message is not None:
            connection.send_text(control.encode(close.message))
        reason = close.close_reason.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")
        connection.close(close.close_code, reason)

    async def _detach(
        self: Relay,
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
        if self.stopping and session.ledger_id in self._kept_at_stop:
            return  # kept open for a resume after the restart
        other = session.connection(side.other)
        if other is not None:
            other.resume_reading_for_peer()
        if end_reason == f"{side.value}_left" and session.may_resume(side):
            await self._keep_slot(session, side)
            return
        people = FOR_PEOPLE.get(end_reason, "the other side left")
        tell = notify_other or (control.PeerLeft(reason=people), False)
        if side is Side.VIEWER and session.viewer_may_retry() and end_reason not in SESSION_WIDE:
            session.unpair()
            self.log.event(
                "viewer_left_before_consent", session_id=session.ledger_id, reason=end_reason
            )
            self._notify(session.host, tell[0], close=tell[1])
            return
        await self._end_session(session, end_reason, {side.other: tell})

    async def _end_session(
        self: Relay,
        session: RelaySession,
        reason: str,
        notify: dict[Side, tuple[control.Control, bool]],
    ) -> None:
        if session.state is SessionState.ENDED:
            return
        timer = self._resume_timers.pop(session, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        if reason == "void":
            tombstone = (ErrorCode.VOID, VOID_TEXT)
        else:
            tombstone = (ErrorCode.EXPIRED, "this code was already used or has expired")
        self.rendezvous.retire(session, self.now(), *tombstone)
        self.metrics.sessions_ended[reason] += 1
        self.log.event(
            "session_ended",
            session_id=session.ledger_id,
            reason=reason,
            bytes_host_to_viewer=session.bytes_forwarded[Side.HOST],
            bytes_viewer_to_host=session.bytes_forwarded[Side.VIEWER],
        )
        for side, (message, close) in notify.items():
            self._notify(session.connection(side), message, close=close)
        await self.db(
            self.ledger.close_session,
            session.ledger_id,
            reason,
            session.bytes_forwarded[Side.HOST],
            session.bytes_forwarded[Side.VIEWER],
        )

    def _notify(
        self: Relay, connection: Connection | None, message: control.Control, *, close: bool
    ) -> None:
        if connection is None or not connection.send_text(control.encode(message)):
            return
        if close:
            reason = message.code.value if isinstance(message, control.Error) else message.TYPE
            connection.close(CLOSE_NORMAL, reason)
