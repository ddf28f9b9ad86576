"""The relay server: pairs a host and a viewer by session number and forwards their
end-to-end ciphertext untouched, keeping the ledger.

Connections are `relay.connection.Connection`s (websockets' Sans-I/O protocol on a plain
asyncio protocol; TLS through `relay.tls_transport`): an idle connection holds no task and
no timer. Binary messages of a paired session are forwarded as they arrive; a receiver
whose transport is above its high-water mark pauses the sender's reading until it drains,
and one that stays above it longer than `send_stall_timeout_seconds` is dropped. One
relay-wide sweep keeps every deadline: opening and first-message timeouts, unused-code
expiry, idle sessions, closing handshakes, keepalive pings and revoked technicians.
Session decisions live in `relay.pairing`, the session flow in `relay.sides`.

Strangers (connections not yet admitted into a session) are counted per address
(relay/admission.py): with TLS at accept, by the TLS server, which lets those over the cap
wait unread before their handshake; behind a proxy, where the address is known only from
the HTTP request, here, where those over the cap wait with their upgrade unanswered.

Resuming (docs/session-contract.md): a consented session whose side drops keeps that side's
slot for `resume_grace_seconds`; the side comes back with `resume` instead of `register` or
`join`, proving itself with its one-time secret against the verifier it left. A stopping
relay keeps such sessions open in the ledger and a starting one takes them over, so both
sides resume across a restart.

Several relays on one PostgreSQL (`RelayConfig.database`): the relay registers itself and
beats a heartbeat (relay/database/upkeep.py); a revocation on any relay reaches it at once
by LISTEN/NOTIFY and cuts that technician's sessions here (the sweep stays, for SQLite and
for notices missed while the database was away); sessions whose relay died and that no
relay took over are closed `relay_lost` by whichever relay's sweep finds them first; and
when the writes waiting for an unreachable database fill their queue, every session here
ends `database_unavailable` (their evidence could not be kept any more).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from websockets.http11 import Request, Response

from protocol.control import ErrorCode
from relay.admission import AddressSlots, WaitingLine
from relay.connection import NEVER, Connection, Paused
from relay.core import RelayConfig, RelayCore
from relay.database.upkeep import Upkeep
from relay.departures import Departures
from relay.events import EventLog
from relay.farewell import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_TOO_BIG,
    Close,
    bad_message,
    error_message,
    refusal,
)
from relay.http import HOST_PATH, Gatekeeper
from relay.ledger import Ledger
from relay.notices import DatabaseNotices
from relay.other_relays import OtherRelays
from relay.pairing import RelaySession, SessionState, Side
from relay.resumption import ResumeSlots
from relay.sides import SessionSides
from relay.tls_transport import TlsServer, start_tls_server

SWEEP_MIN_SECONDS = 0.05
SWEEP_MAX_SECONDS = 1.0
DIRECTION = {Side.HOST: "host_to_viewer", Side.VIEWER: "viewer_to_host"}
# How often a relay among several looks for sessions of dead relays nobody took over.
ORPHAN_SWEEP_SECONDS = 30.0

__all__ = ["Relay", "RelayConfig"]


class Relay:
    """A running relay: `await start()`, then `await stop()` (safe to call once).

    It is the owner of its connections (relay/connection.py's `ConnectionOwner`): what
    they report comes here, and goes on to the parts that serve sessions.
    """

    def __init__(
        self, config: RelayConfig, *, log: EventLog | None = None, ledger: Ledger | None = None
    ) -> None:
        core = RelayCore(config, log or EventLog(), ledger)
        self.core = core
        self.config = config
        self.limits = core.limits
        self.log = core.log
        self.metrics = core.metrics
        self.rendezvous = core.rendezvous
        self._departures = Departures(core)
        others = OtherRelays(core)
        self._slots = ResumeSlots(core, self._departures, others)
        self._sides = SessionSides(core, self._departures, self._slots, others)
        self._gate = Gatekeeper(core, gauges=self.gauges, connection_count=self.connection_count)
        self._connections: set[Connection] = set()
        limits = self.limits
        self._unadmitted = AddressSlots(limits.max_unadmitted_per_ip)
        # Behind a proxy (or without TLS) strangers wait for a slot at the HTTP request.
        self._line_at_request: WaitingLine[tuple[Connection, asyncio.Future[bool]]] | None = None
        self._waiting_at_request: dict[Connection, Any] = {}
        self._all_closed = asyncio.Event()
        self._listener: TlsServer | asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.upkeep: Upkeep | None = None
        self._notices = DatabaseNotices(core, self._departures, self._sides)
        self.port = 0

    @property
    def stopping(self) -> bool:
        return self.core.stopping

    @property
    def ledger(self) -> Ledger:
        return self.core.ledger

    # lifecycle

    async def start(self) -> None:
        if self.config.proxy_protocol and self.config.ssl_context is None:
            raise ValueError("the PROXY protocol is read only on a relay that ends TLS itself")
        await self.core.open_ledger()
        resumable = await self.core.db(self.ledger.resumable_sessions)
        reopened = await self.core.db(
            self.ledger.close_open_sessions, "relay_restarted", [row.id for row in resumable]
        )
        if reopened:
            self.log.event("ledger_rows_closed_at_start", rows=reopened)
        for row in resumable:
            self._slots.restore(row)
        config, limits = self.config, self.limits
        line_per_ip, line_in_all = limits.max_waiting_per_ip, limits.max_waiting_connections
        if config.ssl_context is not None:
            at_accept = not config.behind_proxy
            self._listener = start_tls_server(
                lambda slot_address=None: Connection(self, slot_address),
                config.host,
                config.port,
                config.ssl_context,
                max_handshakes=limits.max_tls_handshakes,
                max_handshakes_per_ip=limits.max_tls_handshakes_per_ip,
                slots=self._unadmitted if at_accept else None,
                line=WaitingLine(line_per_ip, line_in_all),
                waiting_seconds=limits.waiting_timeout_seconds,
                proxy_header_seconds=(
                    limits.open_timeout_seconds if config.proxy_protocol else None
                ),
            )
        else:
            at_accept = False
            self._listener = await asyncio.get_running_loop().create_server(
                lambda: Connection(self), config.host, config.port, backlog=1024
            )
        if not at_accept:
            self._line_at_request = WaitingLine(line_per_ip, line_in_all)
        self.port = self._listener.sockets[0].getsockname()[1]
        self._gate.set_own_origin(self.port)
        if self.core.shared:
            await self._start_upkeep()
        await self._notices.listen()
        self._sweeper = asyncio.create_task(self._sweep())
        self.log.event(
            "relay_started", host=config.host, port=self.port, tls=config.ssl_context is not None
        )

    @property
    def url(self) -> str:
        """Where this relay listens, as a client URL."""
        config = self.config
        scheme = "wss" if config.ssl_context is not None else "ws"
        host = f"[{config.host}]" if ":" in config.host else config.host
        return f"{scheme}://{host}:{self.port}"

    async def _start_upkeep(self) -> None:
        """One of several relays: register (id, public URL, pin), then beat a heartbeat."""
        assert self.core.relay_id is not None
        if self.core.public_url is None:
            self.core.public_url = self.url
        self.upkeep = self.core.upkeep = Upkeep(
            self.ledger,
            self.core.db,
            relay_id=self.core.relay_id,
            public_url=self.core.public_url,
            fingerprint=self.config.fingerprint,
            log=self.log,
            interval_seconds=self.config.heartbeat_seconds,
        )
        await self.upkeep.start()

    async def stop(self, reason: str = "shutting_down") -> None:
        """Tell every peer, close every ledger row with `reason`, close every connection."""
        if self.stopping or self._listener is None:
            return
        self.core.stopping = True
        self.log.event("relay_stopping", sessions=len(self.rendezvous))
        self._listener.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        self._notices.close()
        timers = self.core.resume_timers
        for timer in list(timers.values()):
            timer.cancel()
        await asyncio.gather(*timers.values(), return_exceptions=True)
        goodbye = error_message(ErrorCode.SHUTTING_DOWN, "the relay is shutting down")
        async with asyncio.TaskGroup() as group:
            for session in self.rendezvous.sessions():
                if reason == "shutting_down" and self._slots.resumable_across_restart(session):
                    # Kept open: its sides see the connection drop and resume at the next start.
                    self.core.kept_at_stop.add(session.ledger_id)
                    group.create_task(self._slots.keep_for_restart(session))
                    continue
                group.create_task(
                    self._departures.end_session(
                        session, reason, {Side.HOST: (goodbye, True), Side.VIEWER: (goodbye, True)}
                    )
                )
        for connection in list(self._connections):
            connection.close(CLOSE_GOING_AWAY, "the relay is shutting down")
        if not await self._connections_closed(self.limits.shutdown_grace_seconds):
            for connection in list(self._connections):
                connection.abort()
            await self._connections_closed(self.limits.shutdown_grace_seconds)
        # Ledger writes finish; closes that outlive the grace period are cut short.
        await self.core.finish_background(self.limits.shutdown_grace_seconds)
        await self.core.db(self.ledger.close_open_sessions, reason, self.core.kept_at_stop)
        if self.upkeep is not None:
            await self.upkeep.stop()  # gone: another relay may take what was kept at once
        await self.core.close()
        self.log.event("relay_stopped")

    async def _connections_closed(self, seconds: float) -> bool:
        if not self._connections:
            return True
        self._all_closed.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._all_closed.wait()
        except TimeoutError:
            return False
        return True

    # helpers for the shell

    def now(self) -> float:
        return self.core.now()

    def db(self, function: Any, *args: Any) -> asyncio.Future[Any]:
        """A blocking ledger call on the ledger's one thread (relay/core.py)."""
        return self.core.db(function, *args)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return self.core.spawn(coroutine)

    def gauges(self) -> dict[str, dict[str, int]]:
        return {
            "sessions": {
                state.value: self.rendezvous.count(state)
                for state in (
                    SessionState.WAITING,
                    SessionState.PAIRED,
                    SessionState.AWAITING_RESUME,
                )
            },
            "connections": {
                "open": len(self._connections),
                "unadmitted": len(self._unadmitted),
                "waiting": self.waiting_count(),
            },
            "waiting": self._waiting_counters(),
        }

    def waiting_count(self) -> int:
        """Connections waiting, unread, for a slot right now."""
        listener = self._listener
        count = len(listener.line) if isinstance(listener, TlsServer) else 0
        line = self._line_at_request
        return count + (len(line) if line is not None else 0)

    def _waiting_counters(self) -> dict[str, int]:
        counters = dict(self.metrics.waiting)
        listener = self._listener
        if isinstance(listener, TlsServer):
            counters["waited"] = counters.get("waited", 0) + listener.waited
            counters["expired"] = counters.get("expired", 0) + listener.expired
            counters["closed"] = counters.get("closed", 0) + listener.closed_at_accept
        return counters

    def connection_count(self) -> int:
        return len(self._connections)

    # what connections report (relay/connection.py)

    def connection_opened(self, connection: Connection) -> None:
        self._connections.add(connection)

    def connection_closed(self, connection: Connection) -> None:
        self._connections.discard(connection)
        self._give_slot_back(connection)
        waiting = self._waiting_at_request.pop(connection, None)
        if waiting is not None and self._line_at_request is not None:
            self._line_at_request.remove(waiting)
            turn = waiting.item[1]
            if not turn.done():
                turn.set_result(False)
        if not self._connections:
            self._all_closed.set()
        session, side = connection.session, connection.side
        if session is not None and side is not None:
            other = session.connection(side.other)
            if other is not None:
                other.resume_reading_for_peer()

    def connection_admitted(self, connection: Connection) -> None:
        self._give_slot_back(connection)

    def _give_slot_back(self, connection: Connection) -> None:
        """`connection` is no stranger any more (admitted, or gone): the next connection
        waiting from its address may go on."""
        address = connection.slot_address
        if address is None:
            return
        connection.slot_address = None
        self._unadmitted.give_back(address)
        if isinstance(self._listener, TlsServer) and self._line_at_request is None:
            self._listener.slot_freed(address)
        else:
            self._start_waiting_at_request(address)

    def client_ip(self, connection: Connection, request: Request) -> str:
        return self._gate.client_ip(connection, request)

    async def process_request(self, connection: Connection, request: Request) -> Response | None:
        if (
            self._line_at_request is not None
            and connection.slot_address is None
            and not await self._slot_at_request(connection)
        ):
            return self._gate.refuse_waited_too_long(connection)
        return await self._gate.process_request(connection, request)

    async def _slot_at_request(self, connection: Connection) -> bool:
        """A slot for a stranger from `connection.ip`, at once or after waiting unread
        (reading paused, the upgrade unanswered) for its turn; False when its address's
        line is full or the wait reached its deadline."""
        line = self._line_at_request
        assert line is not None
        address = connection.ip
        if not line.has_waiting(address) and self._unadmitted.has_room(address):
            self._unadmitted.take(address)
            connection.slot_address = address
            return True
        turn: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiter = line.add(
            address, (connection, turn), self.now() + self.limits.waiting_timeout_seconds
        )
        if waiter is None:
            self.metrics.waiting["closed"] += 1
            return False
        self.metrics.waiting["waited"] += 1
        self._waiting_at_request[connection] = waiter
        connection.pause_reading(Paused.WAITING)
        connection.deadline = NEVER  # the line keeps its deadline
        try:
            return await turn
        finally:
            self._waiting_at_request.pop(connection, None)
            line.remove(waiter)
            connection.resume_reading(Paused.WAITING)
            connection.deadline = self.now() + self.limits.open_timeout_seconds

    def _start_waiting_at_request(self, address: str) -> None:
        line = self._line_at_request
        if line is None:
            return
        while line.has_waiting(address) and self._unadmitted.has_room(address):
            waiting = line.next_of(address)
            assert waiting is not None
            connection, turn = waiting
            self._unadmitted.take(address)
            connection.slot_address = address
            turn.set_result(True)

    def on_open(self, connection: Connection, path: str) -> None:
        """The upgrade is done; the first message (register, join or resume) is awaited."""
        connection.side = Side.HOST if path.split("?", 1)[0] == HOST_PATH else Side.VIEWER

    async def on_text(self, connection: Connection, data: bytes) -> None:
        session, side = connection.session, connection.side
        if side is None or connection.left_by_relay:
            return
        if session is not None and session.connection(side) is not connection:
            return  # dropped (after a wrong code); the close is on its way
        try:
            try:
                text = data.decode()
            except UnicodeDecodeError:
                raise bad_text() from None
            if session is None:
                await self._sides.first(connection, text)
            else:
                session.last_activity = self.now()
                await self._sides.on_control(session, side, self._sides.decode(text))
        except Close as close:
            await self._sides.leave(connection, close)

    def on_binary(self, connection: Connection, data: bytes) -> Coroutine[Any, Any, None] | None:
        """Forward a binary message of a paired side at once; a coroutine when the sender
        must go."""
        session, side = connection.session, connection.side
        if session is None or side is None:
            if connection.left_by_relay:
                return None
            return self._sides.leave(connection, bad_binary("pairing"))
        if session.connection(side) is not connection:
            return None
        if session.state is SessionState.WAITING and session.pairings == 0:
            return self._sides.leave(connection, bad_binary("a technician joined"))
        session.last_activity = self.now()
        if not session.forwards_from(side):
            # In flight when the other side left, or sealed in an epoch before a resume:
            # nobody can open it (the sender sends it again after the resume).
            return None
        receiver = session.connection(side.other)
        if receiver is None or not receiver.send_binary(data):
            return None  # the receiver is leaving; its own end settles the session
        session.bytes_forwarded[side] += len(data)
        self.metrics.bytes_forwarded[DIRECTION[side]] += len(data)
        if receiver.write_paused_at:
            connection.pause_reading_for_peer()  # (a side new since the receiver filled up)
        return None

    def backpressure(self, receiver: Connection, *, on: bool) -> None:
        """`receiver`'s transport filled up (on) or drained: its peer stops or goes on reading."""
        session, side = receiver.session, receiver.side
        if session is None or side is None or session.connection(side) is not receiver:
            return
        sender = session.connection(side.other)
        if sender is None:
            return
        if on:
            sender.pause_reading_for_peer()
        else:
            sender.resume_reading_for_peer()

    async def on_lost(self, connection: Connection) -> None:
        session, side = connection.session, connection.side
        if session is None or side is None:
            return
        end_reason = f"{side.value}_left"
        sent = connection.ws.close_sent
        if sent is not None and sent.code == CLOSE_TOO_BIG:
            end_reason = f"{side.value}_too_large"
        await self._sides.detach(session, side, connection, end_reason, None)

    def first_message_late(self, connection: Connection) -> None:
        timeout = refusal(ErrorCode.TIMEOUT, "no register or join message in time")
        self.spawn(self._sides.leave(connection, timeout))

    # the sweep: every deadline of the relay, one timer

    def _sweep_seconds(self) -> float:
        limits = self.limits
        candidates = [
            limits.open_timeout_seconds,
            limits.handshake_timeout_seconds,
            limits.waiting_timeout_seconds,
            limits.send_stall_timeout_seconds,
            limits.close_timeout_seconds,
            limits.linger_seconds,
            limits.idle_timeout_seconds,
            limits.code_ttl_seconds,
            limits.revocation_sweep_seconds,
            limits.ping_interval_seconds or SWEEP_MAX_SECONDS,
            limits.ping_timeout_seconds or SWEEP_MAX_SECONDS,
        ]
        return max(SWEEP_MIN_SECONDS, min(SWEEP_MAX_SECONDS, min(candidates) / 4))

    async def _sweep(self) -> None:
        limits = self.limits
        ping_interval = limits.ping_interval_seconds
        next_ping = self.now() + (ping_interval or 0.0)
        next_revocation_check = self.now() + limits.revocation_sweep_seconds
        next_orphan_check = self.now() + ORPHAN_SWEEP_SECONDS
        interval = self._sweep_seconds()
        while True:
            await asyncio.sleep(interval)
            now = self.now()
            ping_round = ping_interval is not None and now >= next_ping
            if ping_round:
                next_ping = now + ping_interval  # type: ignore[operator]
            self._drop_overdue_waiting(now)
            for connection in list(self._connections):
                connection.check_deadlines(now, ping_round)
                self._check_stall(connection, now)
                self._check_linger(connection, now)
            for session in self.rendezvous.sessions():
                self._check_session(session, now)
            if now >= next_revocation_check:
                next_revocation_check = now + limits.revocation_sweep_seconds
                await self._notices.sweep_revocations()
            if self.core.shared and now >= next_orphan_check:
                next_orphan_check = now + ORPHAN_SWEEP_SECONDS
                self.spawn(self._notices.close_orphans())

    def _drop_overdue_waiting(self, now: float) -> None:
        if isinstance(self._listener, TlsServer):
            self._listener.drop_overdue(now)
        if self._line_at_request is not None:
            for _connection, turn in self._line_at_request.overdue(now):
                self.metrics.waiting["expired"] += 1
                turn.set_result(False)

    def _check_stall(self, receiver: Connection, now: float) -> None:
        paused_at = receiver.write_paused_at
        if not paused_at or now - paused_at <= self.limits.send_stall_timeout_seconds:
            return
        receiver.write_paused_at = 0.0
        session, side = receiver.session, receiver.side
        if session is None or side is None or session.connection(side) is not receiver:
            receiver.abort()
            return
        self.log.event(
            "forward_stalled", session=session.number, session_id=session.ledger_id, side=side.value
        )
        self.spawn(self._drop_stalled(session, side, receiver))

    async def _drop_stalled(self, session: RelaySession, side: Side, receiver: Connection) -> None:
        await self._sides.detach(session, side, receiver, f"{side.value}_not_reading", None)
        receiver.abort()

    def _check_linger(self, connection: Connection, now: float) -> None:
        """A side left after its session ended goes once the linger time is over."""
        session = connection.session
        if (
            session is not None
            and session.state is SessionState.ENDED
            and connection.is_open
            and now >= session.ended_at + self.limits.linger_seconds
        ):
            self._departures.farewell(connection, Close(None, CLOSE_NORMAL, "session ended"))

    def _check_session(self, session: RelaySession, now: float) -> None:
        if session.state is SessionState.WAITING and session.is_expired(now):
            host = session.host
            if host is not None:
                expired = error_message(ErrorCode.EXPIRED, "nobody joined before the code expired")
                self.spawn(
                    self._sides.leave(
                        host, Close(expired, CLOSE_NORMAL, "code expired", end_reason="expired")
                    )
                )
        elif (
            session.state is SessionState.PAIRED
            and now >= session.last_activity + self.limits.idle_timeout_seconds
            and session.host is not None
        ):
            idle = error_message(ErrorCode.TIMEOUT, "the session was idle for too long")
            close = Close(idle, CLOSE_NORMAL, "idle", end_reason="idle", notify_other=(idle, True))
            session.last_activity = now  # one farewell, not one per sweep
            self.spawn(self._sides.leave(session.host, close))


def bad_binary(after: str) -> Close:
    return bad_message(f"binary frames are only forwarded after {after}")


def bad_text() -> Close:
    return bad_message("control messages must be UTF-8 text")
