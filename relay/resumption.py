"""The relay's part of resuming a session (docs/session-contract.md): keep a dropped
side's slot for the grace period, take a side back that proves itself with its one-time
secret, and carry sessions across a restart through the ledger. The relay holds one
`ResumeSlots`; the session decisions are in `relay.pairing.RelaySession`.

Several relays on one database: a resume for a session this relay does not hold goes to
relay/other_relays.py, which sends the side to the relay that holds it or takes the
session over (`restore`d here as "relay_lost", both sides away, as after a restart).
"""

from __future__ import annotations

import asyncio

from protocol import control
from protocol.control import ErrorCode
from relay.connection import Connection
from relay.core import RelayCore
from relay.departures import Departures
from relay.farewell import (
    FOR_PEOPLE,
    RESUME_REFUSED_TEXT,
    REVOKED_TEXT,
    refusal,
)
from relay.ledger import ResumableSession, Technician
from relay.limits import RateLimiter
from relay.other_relays import OtherRelays
from relay.pairing import Refused, RelaySession, SessionState, Side


class ResumeSlots:
    """Resume handling: slots kept for sides that dropped, and sides coming back."""

    def __init__(self, core: RelayCore, departures: Departures, others: OtherRelays) -> None:
        self._core = core
        self._departures = departures
        self._others = others
        self._resume_per_ip = RateLimiter(core.limits.resume_per_ip)

    async def keep_slot(self, session: RelaySession, side: Side) -> None:
        """`side` dropped after consent: keep its slot for the grace period, tell the other."""
        session.await_resume(side, self._core.now(), self._core.limits.resume_grace_seconds)
        self._core.metrics.awaiting_resume += 1
        self._core.log.event(
            "awaiting_resume", session=session.number, session_id=session.ledger_id, side=side.value
        )
        self._departures.notify(
            session.connection(side.other), control.PeerReconnecting(), close=False
        )
        self._expire_later(session)

    def _expire_later(self, session: RelaySession) -> None:
        if session not in self._core.resume_timers:
            self._core.resume_timers[session] = asyncio.create_task(self._expire_resume(session))

    async def _expire_resume(self, session: RelaySession) -> None:
        """End the session when its grace period passes with a side still away."""
        try:
            while session.state is SessionState.AWAITING_RESUME:
                delay = session.resume_deadline - self._core.now()
                if delay <= 0:
                    away = session.away()
                    if session.restored_as:
                        reason = session.restored_as
                    else:
                        reason = f"{away[0].value}_left" if away else "host_left"
                    people = FOR_PEOPLE.get(reason, "the other side left")
                    notify = {
                        side: (control.PeerLeft(reason=people), False)
                        for side in Side
                        if session.connection(side) is not None
                    }
                    self._core.log.event(
                        "resume_expired", session=session.number, session_id=session.ledger_id
                    )
                    await self._departures.end_session(session, reason, notify)
                    return
                await asyncio.sleep(delay)
        finally:
            if self._core.resume_timers.get(session) is asyncio.current_task():
                del self._core.resume_timers[session]

    async def resume(
        self,
        connection: Connection,
        side: Side,
        message: control.Resume,
        technician: Technician | None,
    ) -> None:
        """A side comes back: check its one-time secret, give it its slot, and when both
        sides are there tell both to switch to the next epoch."""
        ip = connection.ip
        if not self._resume_per_ip.allow(ip, self._core.now()):
            self._refuse("rate_limited", ip, side)
            raise refusal(ErrorCode.RATE_LIMITED, "too many resume attempts; wait a minute")
        if technician is not None and await self._core.db(
            self._core.ledger.revoked_among, [technician.id]
        ):
            self._refuse("revoked", ip, side)
            raise refusal(ErrorCode.REVOKED, REVOKED_TEXT)
        try:
            session = self._core.rendezvous.find_for_resume(message.session)
        except Refused:
            found = await self._others.take_over(message.session, ip, self.restore)
            if found is None:
                self._refuse("no_session", ip, side)
                raise refusal(ErrorCode.RESUME_REFUSED, RESUME_REFUSED_TEXT) from None
            session = found
        if technician is not None and technician.id != session.technician_id:
            self._refuse("other_technician", ip, side)
            raise refusal(ErrorCode.RESUME_REFUSED, RESUME_REFUSED_TEXT)
        if not session.resume_matches(side, message.epoch, message.secret):
            self._refuse("wrong_secret", ip, side)
            raise refusal(ErrorCode.RESUME_REFUSED, RESUME_REFUSED_TEXT)
        replaced = session.connection(side)
        both_back = session.reattach(side, connection, self._core.now())
        self._core.record(self._core.ledger.forget_verifier, session.ledger_id, side.value)
        self._core.metrics.resumes += 1
        self._core.log.event(
            "session_resumed" if both_back else "side_resumed",
            session=session.number,
            session_id=session.ledger_id,
            side=side.value,
            epoch=session.epoch,
            ip=ip,
        )
        if replaced is not None:
            # Its old connection was still open here (a half-open TCP): it is replaced.
            replaced.abort()
        if not both_back:
            self._departures.start_side(session, side, connection, first=control.PeerReconnecting())
            return
        resumed = control.Resumed(epoch=session.epoch, relays=self._core.told_relays())
        self._departures.start_side(
            session, side, connection, first=resumed, then_tell=(side.other, resumed)
        )

    def _refuse(self, reason: str, ip: str, side: Side) -> None:
        self._core.metrics.resumes_refused[reason] += 1
        self._core.log.event("resume_refused", reason=reason, side=side.value, ip=ip)

    def restore(
        self, row: ResumableSession, restored_as: str = "relay_restarted"
    ) -> RelaySession | None:
        """Take over a session a previous relay process (or, `restored_as`
        "relay_lost", another relay that died) left open, both sides away."""
        now = self._core.now()
        verifiers = {Side(side): held for side, held in row.verifiers.items()}
        session = RelaySession(
            number=row.number,
            host=None,
            registered_at=now,
            expires_at=now,
            ledger_id=row.id,
            state=SessionState.AWAITING_RESUME,
            technician_id=row.technician_id,
            technician_name=row.technician_name,
            consent=control.ReportedConsent(row.consent_level),
            last_activity=now,
            pairings=1,
            epoch=max(epoch for epoch, _verifier in verifiers.values()),
            verifiers=verifiers,
            resume_deadline=now + self._core.limits.resume_grace_seconds,
            restored_as=restored_as,
        )
        session.bytes_forwarded[Side.HOST] = row.bytes_host_to_viewer
        session.bytes_forwarded[Side.VIEWER] = row.bytes_viewer_to_host
        try:
            self._core.rendezvous.restore(session)
        except Refused:
            self._core.record(self._core.ledger.close_session, row.id, restored_as, 0, 0)
            return None
        self._core.log.event("session_restored", session=row.number, session_id=row.id)
        self._expire_later(session)
        return session

    def resumable_across_restart(self, session: RelaySession) -> bool:
        return all(session.may_resume(side) for side in Side)

    async def keep_for_restart(self, session: RelaySession) -> None:
        await self._core.db(
            self._core.ledger.save_bytes,
            session.ledger_id,
            session.bytes_forwarded[Side.HOST],
            session.bytes_forwarded[Side.VIEWER],
        )
        self._core.log.event(
            "session_kept_for_restart", session=session.number, session_id=session.ledger_id
        )
