"""The relay's part of resuming a session (docs/session-contract.md): keep a dropped
side's slot for the grace period, take a side back that proves itself with its one-time
secret, and carry sessions across a restart through the ledger. The relay holds one
`ResumeSlots`; the session decisions are in `relay.pairing.RelaySession`.

Several relays on one database: a session is held by one relay at a time (the ledger row's
`relay_id`). A side that resumes here a session another relay holds is sent there
(`redirect`) while that relay is alive; when it is gone (its heartbeat is stale, or its
address refuses connections), this relay claims the session in the database and takes it
over from its ledger row, both sides away, as after a restart: the sides resume here with
the same secrets, and a session nobody comes back to ends `relay_lost`.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from protocol import control
from protocol.control import ErrorCode
from relay.connection import Connection
from relay.core import RelayCore, client_url
from relay.database import DatabaseUnavailable, SessionLocation
from relay.database.upkeep import RELAY_STALE_SECONDS
from relay.departures import Departures
from relay.farewell import (
    CLOSE_NORMAL,
    FOR_PEOPLE,
    RESUME_REFUSED_TEXT,
    REVOKED_TEXT,
    Close,
    refusal,
)
from relay.ledger import ResumableSession, Technician
from relay.limits import RateLimiter
from relay.pairing import Refused, RelaySession, SessionState, Side

# How long a relay waits for another relay's address to take a connection before it
# leaves the question of whether that relay is alive to its heartbeat; and how long a
# refused address counts as gone without asking again (many sessions move at once).
PROBE_TIMEOUT_SECONDS = 1.0
PROBE_MEMORY_SECONDS = 5.0


class ResumeSlots:
    """Resume handling: slots kept for sides that dropped, and sides coming back."""

    def __init__(self, core: RelayCore, departures: Departures) -> None:
        self._core = core
        self._departures = departures
        self._resume_per_ip = RateLimiter(core.limits.resume_per_ip)
        self._takeover = asyncio.Lock()  # one takeover at a time (both sides may race)
        self._refused_at: dict[str, float] = {}  # relay address -> when it refused

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
            found = await self._from_elsewhere(message.session, ip)
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

    # several relays on one database

    async def redirect_if_elsewhere(self, number: str, request: str, ip: str) -> None:
        """Raise the `redirect` to the live relay that holds session `number`, if another
        does (`request`: "join" or "resume", for the log and metrics)."""
        location = await self._locate(number)
        if location is not None and self._held_by_other(location) and location.owner_alive:
            raise self._redirect(location, request, ip)

    async def _locate(self, number: str) -> SessionLocation | None:
        core = self._core
        if not core.shared:
            return None
        try:
            return await core.db(
                core.ledger.locate_session, number, time.time(), RELAY_STALE_SECONDS
            )
        except DatabaseUnavailable:
            return None  # as unknown as it is here

    def _held_by_other(self, location: SessionLocation) -> bool:
        return location.relay_id is not None and location.relay_id != self._core.relay_id

    def _redirect(self, location: SessionLocation, request: str, ip: str) -> Close:
        url = client_url(location.public_url or "")
        if url is None:
            self._core.log.event(
                "redirect_impossible", session=location.number, relay_id=location.relay_id
            )
            return refusal(ErrorCode.RESUME_REFUSED if request == "resume" else
                           ErrorCode.UNKNOWN_SESSION, "the session is on a relay without an "
                           "address for clients; ask the operator")  # fmt: skip
        self._core.metrics.redirects[request] += 1
        self._core.log.event(
            "redirected",
            session=location.number,
            request=request,
            relay_id=location.relay_id,
            ip=ip,
        )
        redirect = control.Redirect(url=url, fingerprint=location.fingerprint or "")
        return Close(redirect, CLOSE_NORMAL, "redirect")

    async def _from_elsewhere(self, number: str, ip: str) -> RelaySession | None:
        """A resume for a session this relay does not hold: raise the redirect to the live
        relay that does, or take it over from a relay that is gone (None: neither)."""
        core = self._core
        if not core.shared:
            return None
        async with self._takeover:
            try:
                return core.rendezvous.find_for_resume(number)  # taken over meanwhile
            except Refused:
                pass
            location = await self._locate(number)
            if location is None or not location.consented or location.relay_id == core.relay_id:
                return None
            stale_after = RELAY_STALE_SECONDS
            if self._held_by_other(location) and location.owner_alive:
                if not await self._refuses_connections(location.public_url):
                    raise self._redirect(location, "resume", ip)
                stale_after = 0.0  # its heartbeat is recent, but nothing listens there
            try:
                claimed = await core.db(
                    core.ledger.claim_session,
                    location.session_id,
                    core.relay_id,
                    time.time(),
                    stale_after,
                )
                if not claimed:  # another relay was quicker: send the side there
                    await self.redirect_if_elsewhere(number, "resume", ip)
                    return None
                row = await core.db(core.ledger.resumable_session, location.session_id)
            except DatabaseUnavailable:
                return None
            if row is None:  # it cannot resume (a verifier missing): it ends here
                core.record(core.ledger.close_session, location.session_id, "relay_lost", 0, 0)
                return None
            session = self.restore(row, restored_as="relay_lost")
            if session is not None:
                core.metrics.takeovers += 1
                core.log.event(
                    "session_taken_over",
                    session=number,
                    session_id=location.session_id,
                    from_relay=location.relay_id,
                )
            return session

    async def _refuses_connections(self, url: str | None) -> bool:
        """Whether nothing listens at a relay's address any more (a refused connection):
        that relay died, however recent its last heartbeat. A timeout says nothing."""
        address = client_url(url or "") or ""
        parts = urlsplit(address)
        if parts.hostname is None:
            return False
        now = self._core.now()
        refused_at = self._refused_at.get(address)
        if refused_at is not None and now - refused_at < PROBE_MEMORY_SECONDS:
            return True
        try:
            port = parts.port or (443 if parts.scheme == "wss" else 80)
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                _reader, writer = await asyncio.open_connection(parts.hostname, port)
        except ConnectionRefusedError:
            self._refused_at = {
                a: t for a, t in self._refused_at.items() if now - t < PROBE_MEMORY_SECONDS
            }
            self._refused_at[address] = now
            return True
        except (OSError, TimeoutError, ValueError):
            return False
        writer.transport.abort()
        return False

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
