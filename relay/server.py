"""The relay server: pairs a host and a viewer by session number and forwards their
end-to-end ciphertext untouched, keeping the ledger.

Each connection has one task (its handler) that reads its own socket and writes to the
other side. Forwarding awaits the other side's send, so a receiver that does not read
stops the sender's reads (websockets' `max_queue` then TCP flow control); a forward that
stalls longer than `send_stall_timeout_seconds` drops the stalled side. Session decisions
live in `relay.pairing`; control message decoding in `protocol.control`.

Resuming (docs/session-contract.md): a consented session whose side drops keeps that side's
slot for `resume_grace_seconds`; the side comes back with `resume` instead of `register` or
`join`, proving itself with its one-time secret against the verifier it left. A stopping
relay keeps such sessions open in the ledger and a starting one takes them over, so both
sides resume across a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import weakref
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from protocol import SUPPORTED_VERSIONS, control
from protocol.billing import Tariff
from protocol.control import ErrorCode
from protocol.errors import ProtocolError
from relay.events import EventLog
from relay.farewell import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_TOO_BIG,
    FOR_PEOPLE,
    MAX_CLOSE_REASON_BYTES,
    SESSION_WIDE,
    Close,
    bad_message,
    error_message,
    refusal,
)
from relay.http import HOST_PATH, VIEWER_PATH, Gatekeeper
from relay.ledger import Ledger, Technician
from relay.limits import Limits, RateLimiter
from relay.metrics import Metrics
from relay.pairing import Refused, RelaySession, Rendezvous, SessionState, Side
from relay.resumption import ResumeSlots

NOTIFY_TIMEOUT_SECONDS = 2.0
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Where and how the relay listens; everything a running relay needs."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8765
    ssl_context: ssl.SSLContext | None = None
    behind_proxy: bool = False
    limits: Limits = field(default_factory=Limits)
    tariff: Tariff = field(default_factory=Tariff)


class Relay(ResumeSlots):
    """A running relay: `await start()`, then `await stop()` (safe to call once)."""

    def __init__(self, config: RelayConfig, *, log: EventLog | None = None) -> None:
        self.config = config
        self.limits = config.limits
        self.log = log or EventLog()
        self.metrics = Metrics()
        self.ledger = Ledger(config.data_dir)
        self.rendezvous = Rendezvous(
            code_ttl_seconds=self.limits.code_ttl_seconds, max_sessions=self.limits.max_sessions
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._register_per_ip = RateLimiter(self.limits.register_per_ip)
        self._join_per_ip = RateLimiter(self.limits.join_per_ip)
        self._join_per_token = RateLimiter(self.limits.join_per_token)
        self._resume_per_ip = RateLimiter(self.limits.resume_per_ip)
        self._resume_timers: dict[RelaySession, asyncio.Task[None]] = {}
        self._kept_at_stop: set[int] = set()
        self._gate = Gatekeeper(self)
        self._technicians: weakref.WeakKeyDictionary[ServerConnection, Technician] = (
            weakref.WeakKeyDictionary()
        )
        self._server: Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self.stopping = False
        self.port = 0

    # lifecycle

    async def start(self) -> None:
        resumable = await self.db(self.ledger.resumable_sessions)
        reopened = await self.db(
            self.ledger.close_open_sessions, "relay_restarted", [row.id for row in resumable]
        )
        if reopened:
            self.log.event("ledger_rows_closed_at_start", rows=reopened)
        for row in resumable:
            self._restore(row)
        limits = self.limits
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            ssl=self.config.ssl_context,
            process_request=self._gate.process_request,
            compression=None,
            max_size=limits.max_message_bytes,
            max_queue=limits.max_queued_frames,
            write_limit=limits.write_limit_bytes,
            open_timeout=limits.open_timeout_seconds,
            ping_interval=limits.ping_interval_seconds,
            ping_timeout=limits.ping_timeout_seconds,
            close_timeout=limits.close_timeout_seconds,
            server_header=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._sweeper = asyncio.create_task(self._sweep_revocations())
        self.log.event(
            "relay_started",
            host=self.config.host,
            port=self.port,
            tls=self.config.ssl_context is not None,
        )

    async def stop(self, reason: str = "shutting_down") -> None:
        """Tell every peer, close every ledger row with `reason`, close every connection."""
        if self.stopping or self._server is None:
            return
        self.stopping = True
        self.log.event("relay_stopping", sessions=len(self.rendezvous))
        server = self._server
        server.close(close_connections=False)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for timer in list(self._resume_timers.values()):
            timer.cancel()
        await asyncio.gather(*self._resume_timers.values(), return_exceptions=True)
        goodbye = error_message(ErrorCode.SHUTTING_DOWN, "the relay is shutting down")
        async with asyncio.TaskGroup() as group:
            for session in self.rendezvous.sessions():
                if reason == "shutting_down" and self._resumable_across_restart(session):
                    # Kept open: its sides see the connection drop and resume at the next start.
                    self._kept_at_stop.add(session.ledger_id)
                    group.create_task(self._keep_for_restart(session))
                    continue
                group.create_task(
                    self._end_session(
                        session, reason, {Side.HOST: (goodbye, True), Side.VIEWER: (goodbye, True)}
                    )
                )
        for connection in list(server.connections):
            self._spawn(connection.close(CLOSE_GOING_AWAY, "the relay is shutting down"))
        try:
            async with asyncio.timeout(self.limits.shutdown_grace_seconds):
                await server.wait_closed()
        except TimeoutError:
            for connection in list(server.connections):
                connection.transport.abort()
            await server.wait_closed()
        if self._background:
            # Ledger writes finish; closes that outlive the grace period are cut short.
            await asyncio.wait(list(self._background), timeout=self.limits.shutdown_grace_seconds)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.db(self.ledger.close_open_sessions, reason, self._kept_at_stop)
        self._executor.shutdown(wait=True)
        self.ledger.close()
        self.log.event("relay_stopped")

    # helpers for the shell

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def db(self, function: Any, *args: Any) -> asyncio.Future[Any]:
        """Run a blocking ledger call on the ledger's one thread (submitted now, so ledger
        writes happen in the order they were asked for)."""
        return asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _record(self, function: Any, *args: Any) -> None:
        """A ledger write nobody waits for (awaited at stop, never lost)."""
        self._track(self.db(function, *args))

    def _spawn(self, coroutine: Coroutine[Any, Any, T]) -> None:
        self._track(asyncio.ensure_future(coroutine))

    def _track(self, future: asyncio.Future[Any]) -> None:
        self._background.add(future)
        future.add_done_callback(self._background.discard)

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
                "open": len(self._server.connections) if self._server is not None else 0
            },
        }

    def connection_count(self) -> int:
        return len(self._server.connections) if self._server is not None else 0

    def admit_viewer(self, connection: ServerConnection, technician: Technician) -> None:
        self._technicians[connection] = technician

    # connections

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        path = connection.request.path.split("?", 1)[0]
        ip = self._client_ip(connection)
        # The handshake's headers are not needed any more; an idle session should not keep
        # them (about 5 KiB per session).
        connection.request.headers.clear()
        if connection.response is not None:
            connection.response.headers.clear()
        try:
            if path == HOST_PATH:
                await self._serve_host(connection, ip)
            elif path == VIEWER_PATH:
                technician = self._technicians.pop(connection)
                await self._serve_viewer(connection, technician, ip)
        except Close as close:
            await self._farewell(connection, close)
        except ConnectionClosed:
            pass

    async def _farewell(self, connection: ServerConnection, close: Close) -> None:
        if close.message is not None:
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                async with asyncio.timeout(NOTIFY_TIMEOUT_SECONDS):
                    await connection.send(control.encode(close.message))
        reason = close.close_reason.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")
        await connection.close(close.close_code, reason)

    def _client_ip(self, connection: ServerConnection) -> str:
        return self._gate.client_ip(connection)

    async def _first_control(
        self, connection: ServerConnection, expected: tuple[type[control.Control], ...]
    ) -> control.Control:
        try:
            async with asyncio.timeout(self.limits.handshake_timeout_seconds):
                frame = await connection.recv()
        except TimeoutError:
            raise refusal(ErrorCode.TIMEOUT, "no register or join message in time") from None
        if isinstance(frame, bytes):
            raise bad_message("binary frames are only forwarded after pairing")
        message = self._decode(frame)
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

    def _decode(self, frame: str) -> control.Control:
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

    async def _serve_host(self, connection: ServerConnection, ip: str) -> None:
        first = await self._first_control(connection, (control.Register, control.Resume))
        if isinstance(first, control.Resume):
            await self._resume(connection, Side.HOST, first, None)
            return
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
        await self._run_side(
            session,
            Side.HOST,
            connection,
            first=control.Registered(
                session=session.number,
                expires_in=int(self.limits.code_ttl_seconds),
                **control.tariff_fields(self.config.tariff),
            ),
        )

    async def _serve_viewer(
        self, connection: ServerConnection, technician: Technician, ip: str
    ) -> None:
        join = await self._first_control(connection, (control.Join, control.Resume))
        if isinstance(join, control.Resume):
            await self._resume(connection, Side.VIEWER, join, technician)
            return
        assert isinstance(join, control.Join)
        now = self.now()
        if not self._join_per_ip.allow(ip, now) or not self._join_per_token.allow(
            technician.id, now
        ):
            self._refuse_join(ErrorCode.RATE_LIMITED, ip, technician)
            raise refusal(ErrorCode.RATE_LIMITED, "too many joins; wait a minute and try again")
        if await self.db(self.ledger.revoked_among, [technician.id]):
            self._refuse_join(ErrorCode.REVOKED, ip, technician)
            raise refusal(ErrorCode.REVOKED, "this technician's access was revoked")
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
        await self._run_side(
            session,
            Side.VIEWER,
            connection,
            first=control.Joined(**control.tariff_fields(self.config.tariff)),
            then_tell=(Side.HOST, control.PeerJoined(technician=technician.name)),
        )

    def _refuse_join(self, code: ErrorCode, ip: str, technician: Technician) -> None:
        self.metrics.joins_refused[code.value] += 1
        self.log.event("join_refused", reason=code.value, ip=ip, technician=technician.name)

    async def _run_side(
        self,
        session: RelaySession,
        side: Side,
        connection: ServerConnection,
        *,
        first: control.Control,
        then_tell: tuple[Side, control.Control] | None = None,
    ) -> None:
        """Serve one side of a session until it leaves; settle the session either way."""
        end_reason = f"{side.value}_left"
        notify_other: tuple[control.Control, bool] | None = None
        close: Close | None = None
        try:
            await connection.send(control.encode(first))
            if then_tell is not None:
                await self._notify(session.connection(then_tell[0]), then_tell[1], close=False)
            await self._pump(session, side, connection)
        except Close as leaving:
            close = leaving
            end_reason = leaving.end_reason or f"{side.value}_bad_message"
            notify_other = leaving.notify_other
        except ConnectionClosed as closed:
            if closed.sent is not None and closed.sent.code == CLOSE_TOO_BIG:
                end_reason = f"{side.value}_too_large"
        finally:
            await self._detach(session, side, connection, end_reason, notify_other)
        if close is not None:
            await self._farewell(connection, close)

    async def _pump(self, session: RelaySession, side: Side, connection: ServerConnection) -> None:
        """Read this side's frames until it leaves (ConnectionClosed) or must go (Close)."""
        while session.connection(side) is connection:
            try:
                async with asyncio.timeout_at(self._deadline(session)):
                    frame = await connection.recv()
            except TimeoutError:
                self._on_deadline(session)
                continue
            if session.connection(side) is not connection:
                return  # dropped (after a wrong code); the close is on its way
            session.last_activity = self.now()
            if isinstance(frame, bytes):
                await self._forward(session, side, frame)
            else:
                await self._on_control(session, side, self._decode(frame))

    def _deadline(self, session: RelaySession) -> float:
        if session.state is SessionState.WAITING:
            return session.expires_at
        if session.state is SessionState.PAIRED:
            return session.last_activity + self.limits.idle_timeout_seconds
        if session.state is SessionState.AWAITING_RESUME:
            # Its timer ends it; this only wakes the reader to look again.
            return session.resume_deadline + self.limits.linger_seconds
        return session.ended_at + self.limits.linger_seconds

    def _on_deadline(self, session: RelaySession) -> None:
        now = self.now()
        if session.state is SessionState.WAITING and session.is_expired(now):
            raise Close(
                error_message(ErrorCode.EXPIRED, "nobody joined before the code expired"),
                CLOSE_NORMAL,
                "code expired",
                end_reason="expired",
            )
        if (
            session.state is SessionState.PAIRED
            and now >= session.last_activity + self.limits.idle_timeout_seconds
        ):
            idle = error_message(ErrorCode.TIMEOUT, "the session was idle for too long")
            raise Close(idle, CLOSE_NORMAL, "idle", end_reason="idle", notify_other=(idle, True))
        if (
            session.state is SessionState.ENDED
            and now >= session.ended_at + self.limits.linger_seconds
        ):
            raise Close(None, CLOSE_NORMAL, "session ended")

    async def _forward(self, session: RelaySession, side: Side, data: bytes) -> None:
        if session.state is SessionState.WAITING and session.pairings == 0:
            raise bad_message("binary frames are only forwarded after a technician joined")
        if not session.forwards_from(side):
            # In flight when the other side left, or sealed in an epoch before a resume:
            # nobody can open it (the sender sends it again after the resume).
            return
        other = side.other
        receiver = session.connection(other)
        try:
            async with asyncio.timeout(self.limits.send_stall_timeout_seconds):
                await receiver.send(data)
        except ConnectionClosed:
            return  # the receiver is leaving; its own task settles the session
        except TimeoutError:
            self.log.event("forward_stalled", session_id=session.ledger_id, side=other.value)
            await self._detach(session, other, receiver, f"{other.value}_not_reading", None)
            receiver.transport.abort()
            return
        session.bytes_forwarded[side] += len(data)
        direction = "host_to_viewer" if side is Side.HOST else "viewer_to_host"
        self.metrics.bytes_forwarded[direction] += len(data)

    async def _on_control(
        self, session: RelaySession, side: Side, message: control.Control
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

    async def _on_failed_attempt(self, session: RelaySession) -> None:
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
                    error_message(ErrorCode.VOID, "too many wrong codes; this code is void"),
                    True,
                ),
            )
        viewer = session.viewer
        if viewer is not None:
            await self._detach(session, Side.VIEWER, viewer, "wrong_code", None)
            self._spawn(viewer.close(CLOSE_NORMAL, "wrong code"))

    # settling sessions

    async def _detach(
        self,
        session: RelaySession,
        side: Side,
        connection: ServerConnection,
        end_reason: str,
        notify_other: tuple[control.Control, bool] | None,
    ) -> None:
        """`side` leaves `session`: before consent a viewer's seat is freed for another try,
        otherwise the session ends. Idempotent: a side that already left changes nothing."""
        if session.state is SessionState.ENDED or session.connection(side) is not connection:
            return
        if self.stopping and session.ledger_id in self._kept_at_stop:
            return  # kept open for a resume after the restart
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
            await self._notify(session.host, tell[0], close=tell[1])
            return
        await self._end_session(session, end_reason, {side.other: tell})

    async def _end_session(
        self,
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
            tombstone = (ErrorCode.VOID, "too many wrong codes; this code is void")
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
            await self._notify(session.connection(side), message, close=close)
        await self.db(
            self.ledger.close_session,
            session.ledger_id,
            reason,
            session.bytes_forwarded[Side.HOST],
            session.bytes_forwarded[Side.VIEWER],
        )

    async def _notify(
        self, connection: ServerConnection | None, message: control.Control, *, close: bool
    ) -> None:
        if connection is None:
            return
        try:
            async with asyncio.timeout(NOTIFY_TIMEOUT_SECONDS):
                await connection.send(control.encode(message))
        except ConnectionClosed:
            return
        except TimeoutError:
            connection.transport.abort()
            return
        if close:
            reason = message.code.value if isinstance(message, control.Error) else message.TYPE
            self._spawn(connection.close(CLOSE_NORMAL, reason))

    async def _sweep_revocations(self) -> None:
        """End the live sessions of technicians revoked since (the CLI runs elsewhere)."""
        while True:
            await asyncio.sleep(self.limits.revocation_sweep_seconds)
            paired = [
                s
                for s in self.rendezvous.sessions()
                if s.state is SessionState.PAIRED and s.technician_id is not None
            ]
            if not paired:
                continue
            revoked = await self.db(self.ledger.revoked_among, [s.technician_id for s in paired])
            for session in paired:
                viewer = session.viewer
                if session.technician_id not in revoked or viewer is None:
                    continue
                self.log.event(
                    "technician_revoked",
                    session_id=session.ledger_id,
                    technician=session.technician_name,
                )
                await self._detach(session, Side.VIEWER, viewer, "revoked", None)
                self._spawn(
                    self._farewell(
                        viewer,
                        refusal(ErrorCode.REVOKED, "this technician's access was revoked"),
                    )
                )
