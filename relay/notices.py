"""What the database tells a running relay, beside what its connections do: a technician
was revoked (a notice from any relay, at once, or found by the relay's sweep), the writes
waiting for an unreachable database fill their queue, and sessions of dead relays that
nobody took over.

PostgreSQL delivers a revocation to every relay by LISTEN/NOTIFY (relay/database/
revocations.py); on SQLite the revocations of this process are told directly and the
sweep finds the others. A notice "some may have been missed" (the listener lost its
connection) makes the relay look at every technician it serves. The relay holds one
`DatabaseNotices`; `Relay`'s sweep calls `sweep_revocations` and `close_orphans`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from protocol import control
from protocol.control import ErrorCode
from relay.core import RelayCore
from relay.database.errors import DatabaseUnavailable
from relay.database.revocations import Subscription
from relay.database.upkeep import RELAY_STALE_SECONDS
from relay.departures import Departures
from relay.farewell import (
    DATABASE_UNAVAILABLE_TEXT,
    FOR_PEOPLE,
    REVOKED_TEXT,
    error_message,
    refusal,
)
from relay.pairing import RelaySession, SessionState, Side
from relay.sides import SessionSides

# Sessions of a relay whose last heartbeat is older than its stale time, the grace period
# and this are given up (their sides had the grace period to resume elsewhere).
ORPHAN_AFTER_EXTRA_SECONDS = 30.0


class DatabaseNotices:
    def __init__(self, core: RelayCore, departures: Departures, sides: SessionSides) -> None:
        self._core = core
        self._departures = departures
        self._sides = sides
        self._subscription: Subscription | None = None

    async def listen(self) -> None:
        """From now on, revocations on any relay cut sessions here at once, and a full
        write-behind queue ends every session here."""
        core = self._core
        loop = asyncio.get_running_loop()

        def on_revoked(technician_id: int | None) -> None:  # on another thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to cut
                loop.call_soon_threadsafe(self.revoked, technician_id)

        def on_full() -> None:  # on the ledger's thread
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.writes_overflowing)

        core.ledger.set_write_behind_full(on_full)
        self._subscription = await core.db(core.ledger.subscribe_revocations, on_revoked)

    def close(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    # revocations

    def _technicians_sessions(self) -> list[RelaySession]:
        """Sessions a technician is in (paired, or kept for a side to resume)."""
        return [
            s
            for s in self._core.rendezvous.sessions()
            if s.state in (SessionState.PAIRED, SessionState.AWAITING_RESUME)
            and s.technician_id is not None
        ]

    async def sweep_revocations(self) -> None:
        """End the live sessions of technicians revoked since (the CLI runs elsewhere)."""
        core = self._core
        sessions = self._technicians_sessions()
        if not sessions:
            return
        revoked = await core.db(core.ledger.revoked_among, [s.technician_id for s in sessions])
        for session in sessions:
            if session.technician_id in revoked:
                await self._cut_off(session, "sweep")

    def revoked(self, technician_id: int | None) -> None:
        """A revocation notice (on the loop): cut that technician's sessions off now; None
        (notices may have been missed): look at every technician's."""
        core = self._core
        if core.stopping:
            return
        if technician_id is None:
            core.spawn(self.sweep_revocations())
            return
        for session in self._technicians_sessions():
            if session.technician_id == technician_id:
                core.spawn(self._cut_off(session, "notice"))

    async def _cut_off(self, session: RelaySession, found_by: str) -> None:
        """End `session` because its technician was revoked: the viewer is refused, the
        host told."""
        if session.state is SessionState.ENDED:
            return
        self._core.log.event(
            "technician_revoked",
            session=session.number,
            session_id=session.ledger_id,
            technician=session.technician_name,
            found_by=found_by,
        )
        viewer = session.viewer
        if viewer is not None:
            await self._sides.detach(session, Side.VIEWER, viewer, "revoked", None)
            self._departures.farewell(viewer, refusal(ErrorCode.REVOKED, REVOKED_TEXT))
        else:  # the viewer is away, its slot kept: it would be refused when it came back
            told = (control.PeerLeft(reason=FOR_PEOPLE["revoked"]), False)
            await self._departures.end_session(session, "revoked", {Side.HOST: told})

    # the database away too long

    def writes_overflowing(self) -> None:
        """The database has been away so long that its waiting writes fill their queue: a
        session's evidence could no longer be kept, so every session here ends."""
        core = self._core
        if core.stopping:
            return
        sessions = core.rendezvous.sessions()
        core.log.event("write_behind_full", sessions=len(sessions))
        gone = error_message(ErrorCode.DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_TEXT)
        for session in sessions:
            core.spawn(
                self._departures.end_session(
                    session,
                    "database_unavailable",
                    {Side.HOST: (gone, True), Side.VIEWER: (gone, True)},
                )
            )

    # relays that died

    async def close_orphans(self) -> None:
        """Close the rows of sessions whose relay died and that no relay took over."""
        core = self._core
        given_up_after = (
            RELAY_STALE_SECONDS + core.limits.resume_grace_seconds + ORPHAN_AFTER_EXTRA_SECONDS
        )
        try:
            closed = await core.db(
                core.ledger.close_orphaned_sessions, "relay_lost", time.time(), given_up_after
            )
        except DatabaseUnavailable:
            return
        if closed:
            core.log.event("orphaned_sessions_closed", rows=len(closed))
