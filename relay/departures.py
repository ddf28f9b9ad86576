"""How sides start and sessions end on the relay: a side's first answer, telling a side
something, a connection's farewell, and the end of a session with its ledger row.

Used by relay/sides.py, relay/resumption.py and relay/server.py through the one
`Departures` object the relay makes.
"""

from __future__ import annotations

import asyncio
import time

from protocol import control
from protocol.control import ErrorCode
from relay.connection import Connection
from relay.core import RelayCore
from relay.farewell import CLOSE_NORMAL, MAX_CLOSE_REASON_BYTES, VOID_TEXT, Close
from relay.pairing import RelaySession, SessionState, Side


class Departures:
    def __init__(self, core: RelayCore) -> None:
        self._core = core

    def start_side(
        self,
        session: RelaySession,
        side: Side,
        connection: Connection,
        *,
        first: control.Control,
        then_tell: tuple[Side, control.Control] | None = None,
    ) -> None:
        """`connection` is `side` of `session` from now on; it leaves through
        `SessionSides.leave` or, when the connection is lost, the relay's `on_lost`."""
        connection.session = session
        connection.side = side
        connection.send_text(control.encode(first))
        if then_tell is not None:
            self.notify(session.connection(then_tell[0]), then_tell[1], close=False)

    def notify(
        self, connection: Connection | None, message: control.Control, *, close: bool
    ) -> None:
        if connection is None or not connection.send_text(control.encode(message)):
            return
        if close:
            reason = message.code.value if isinstance(message, control.Error) else message.TYPE
            connection.close(CLOSE_NORMAL, reason)

    def farewell(self, connection: Connection, close: Close) -> None:
        if close.message is not None:
            connection.send_text(control.encode(close.message))
        reason = close.close_reason.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")
        connection.close(close.close_code, reason)

    async def end_session(
        self,
        session: RelaySession,
        reason: str,
        notify: dict[Side, tuple[control.Control, bool]],
    ) -> None:
        if session.state is SessionState.ENDED:
            return
        core = self._core
        timer = core.resume_timers.pop(session, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        if reason == "void":
            tombstone = (ErrorCode.VOID, VOID_TEXT)
        else:
            tombstone = (ErrorCode.EXPIRED, "this code was already used or has expired")
        core.rendezvous.retire(session, core.now(), *tombstone)
        core.metrics.sessions_ended[reason] += 1
        core.log.event(
            "session_ended",
            session=session.number,
            session_id=session.ledger_id,
            reason=reason,
            bytes_host_to_viewer=session.bytes_forwarded[Side.HOST],
            bytes_viewer_to_host=session.bytes_forwarded[Side.VIEWER],
        )
        for side, (message, close) in notify.items():
            self.notify(session.connection(side), message, close=close)
        closing = core.db(
            core.ledger.close_session,
            session.ledger_id,
            reason,
            session.bytes_forwarded[Side.HOST],
            session.bytes_forwarded[Side.VIEWER],
        )
        if core.shared:  # its number is free for any relay after the tombstone time
            core.record(core.ledger.release_session_number, session.number, time.time())
        await closing
