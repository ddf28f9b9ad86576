"""A relay among several on one database, and the others: which relay holds a session
number, sending a viewer's join or a side's resume there (`redirect`), and taking a
session over from a relay that is gone.

A session is held by one relay at a time (the ledger row's `relay_id`). A side that comes
to another relay is sent to the holder while that relay is alive; when it is gone (its
heartbeat is stale, or nothing listens at its address any more: a relay killed on a
machine that lives refuses at once), the relay asked claims the session in the database
and takes it over from its ledger row with both sides away, as after a restart: the sides
resume there with the same secrets. Nothing here counts a try or uses a secret.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from protocol import control
from protocol.control import ErrorCode
from relay.core import RelayCore, client_url
from relay.database import DatabaseUnavailable, ResumableSession, SessionLocation
from relay.database.upkeep import RELAY_STALE_SECONDS
from relay.farewell import CLOSE_NORMAL, Close, refusal
from relay.pairing import Refused, RelaySession

# How long a relay waits for another relay's address to take a connection before it
# leaves the question of whether that relay is alive to its heartbeat; and how long a
# refused address counts as gone without asking again (many sessions move at once).
PROBE_TIMEOUT_SECONDS = 1.0
PROBE_MEMORY_SECONDS = 5.0

# Puts a session taken over from its ledger row on this relay's table (None: no room).
Restore = Callable[[ResumableSession, str], RelaySession | None]


class OtherRelays:
    def __init__(self, core: RelayCore) -> None:
        self._core = core
        self._takeover = asyncio.Lock()  # one takeover at a time (both sides may race)
        self._refused_at: dict[str, float] = {}  # relay address -> when it refused

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

    async def take_over(self, number: str, ip: str, restore: Restore) -> RelaySession | None:
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
            session = restore(row, "relay_lost")
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
