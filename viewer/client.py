"""The viewer's session shell: relay connection, handshake, messages, acks and input.

It owns the sockets and tasks; every protocol decision is delegated to `protocol/`. The
flow is docs/session-contract.md; the phases of one run are `Phase`:

    CONNECTING -> JOINING -> HANDSHAKE -> GREETING -> AWAITING_CONSENT -> ACTIVE <-> PAUSED
    ACTIVE/PAUSED -> RECONNECTING -> ACTIVE/PAUSED     (ViewerResume, viewer/reconnect.py)
                                                                  any -> ENDING -> ENDED

Displays (headless, Tk) observe the run through `ViewerEvent`s handed to `on_event` on the
event loop's thread, read `status` (a frozen snapshot) from any thread, and send with
`submit` (thread-safe) or `send` (on the loop). Frame updates are applied to the
framebuffer on one decoder thread, in order, each followed by its `Ack`, so a slow display
never holds up acks, stats or the network reader.

Every message sent or received passes the client's `SessionWire` (endpoint/wire.py), where
the session's recording (`endpoint/evidence.py`, created when the host's Hello arrives)
and `MessageTap`s see it: received ones before they are acted on, outgoing ones right
before sealing, so a message that cannot be recorded is never sent. A failed recording
ends the session at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import enum
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from endpoint.ending import (
    END_MESSAGE_REFUSED,
    END_RECORDING_FAILED,
    close_recording,
    tell_relay_the_end,
)
from endpoint.evidence import END_EXCHANGE_TIMEOUT_SECONDS, RECORDING_CAPABILITY, SessionEvidence
from endpoint.reconnect import GIVE_UP_AFTER_SECONDS, ReconnectTarget, send_verifier
from endpoint.relay_link import RelayLink, open_link
from endpoint.relays import RelayRoute, follow_redirect
from endpoint.wire import SessionWire
from protocol import PROTOCOL_VERSION, SUPPORTED_VERSIONS, control, messages
from protocol.billing import Tariff
from protocol.codes import Code
from protocol.errors import (
    ConnectionLost,
    ConsentDenied,
    FernwartungError,
    ProtocolError,
    RecordingFailed,
    RelayUnreachable,
    SessionEnded,
)
from protocol.handshake import Role
from protocol.padding import PADDING_CAPABILITY, padding_of
from protocol.session import Established, PeerSession, Received, Send, SessionState
from protocol.terms import terms_hash_from
from viewer.framebuffer import Framebuffer, Region
from viewer.outcome import ExitStatus, Outcome, customer_ended, outcome_for
from viewer.reconnect import ViewerResume
from viewer.stats import FrameStat

CONNECT_TIMEOUT_SECONDS = 15.0
JOIN_TIMEOUT_SECONDS = 10.0
HANDSHAKE_TIMEOUT_SECONDS = 15.0
HELLO_TIMEOUT_SECONDS = 10.0
# The customer reads the question and decides; after this the viewer gives up.
CONSENT_TIMEOUT_SECONDS = 600.0
SEND_TIMEOUT_SECONDS = 10.0
CLOSE_TIMEOUT_SECONDS = 5.0
# The most the viewer's own ending may take (goodbye exchange, END record, reports).
ENDING_SECONDS = END_EXCHANGE_TIMEOUT_SECONDS + 3 * SEND_TIMEOUT_SECONDS
# The host keeps at most 2 updates un-acked (FRAME_WINDOW); room for a misbehaving one.
APPLY_QUEUE_UPDATES = 8
OUTBOX_MESSAGES = 1000
VIEWER_CAPABILITIES = (
    "tiles.fill", "tiles.jpeg", "tiles.webp", "tiles.png", "cursor", "chat",
    *messages.RICH_CAPABILITIES, PADDING_CAPABILITY,
)  # fmt: skip


class Phase(enum.Enum):
    CONNECTING = "connecting to the relay"
    JOINING = "joining the session"
    HANDSHAKE = "checking the code"
    GREETING = "exchanging versions"
    AWAITING_CONSENT = "waiting for the customer's approval"
    ACTIVE = "active"
    PAUSED = "paused by the customer"
    RECONNECTING = "reconnecting"
    ENDING = "ending"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class ClientSettings:
    relay_url: str
    code: Code
    token: str = field(repr=False)
    fingerprint: str | None = None
    customer: str = ""
    # End the session by itself this many seconds after the run started.
    end_after_seconds: float | None = None
    # After a dropped connection, how long to try to resume (the relay decides for sure).
    resume_give_up_seconds: float = GIVE_UP_AFTER_SECONDS


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """What a status bar shows; replaced as a whole, so any thread may read it."""

    phase: Phase
    session_number: str
    consent: messages.ConsentLevel = messages.ConsentLevel.PENDING
    # time.monotonic() when the customer first granted access: billable time starts here.
    consent_since: float | None = None
    recording: bool = False
    # The operator's tariff as the relay sent it on join: the running cost uses it.
    tariff: Tariff = field(default_factory=Tariff)


# Events a display receives, on the event loop's thread.
@dataclass(frozen=True, slots=True)
class FrameApplied:
    stat: FrameStat
    regions: tuple[Region, ...]


@dataclass(frozen=True, slots=True)
class CursorMoved:
    x: int
    y: int
    visible: bool


@dataclass(frozen=True, slots=True)
class StatusChanged:
    status: SessionStatus


@dataclass(frozen=True, slots=True)
class ChatReceived:
    text: str


ViewerEvent = FrameApplied | CursorMoved | StatusChanged | ChatReceived


class MessageTap(Protocol):
    """Sees every end-to-end message with its exact plaintext (the recorder's hook)."""

    def sent(self, message: messages.Message, plaintext: bytes, wall_time: float) -> None: ...

    def received(self, message: messages.Message, plaintext: bytes, wall_time: float) -> None: ...


Connect = Callable[..., Awaitable[RelayLink]]
Companion = Callable[["ViewerClient"], Awaitable[None]]


def _first_fernwartung_error(group: BaseExceptionGroup) -> BaseException:
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            return _first_fernwartung_error(error)
        if isinstance(error, FernwartungError):
            return error
    return group


class ViewerClient:
    """One viewer run: from connecting to the relay to the end of the session."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        on_event: Callable[[ViewerEvent], None] = lambda event: None,
        on_stat: Callable[[FrameStat], None] = lambda stat: None,
        taps: Sequence[MessageTap] = (),
        connect: Connect = open_link,
        evidence: SessionEvidence | None = None,
    ) -> None:
        self.settings = settings
        self.framebuffer = Framebuffer()
        # The dot in the status bar: on only while the session is really being recorded.
        self.status = SessionStatus(
            Phase.CONNECTING, settings.code.session, recording=evidence is not None
        )
        self.evidence = evidence
        self.technician = ""  # as the relay verified it (an older relay does not say)
        self._peer_records = False
        self._peer_said_bye = asyncio.Event()
        self._end_finished = asyncio.Event()  # end() wrote the END record and said so
        self._final_report: control.Checkpoint | None = None  # not yet given to the relay
        self._on_event = on_event
        self._on_stat = on_stat
        self._taps = tuple(taps)
        self._connect = connect
        self.wire = SessionWire(
            evidence,
            sent=self._tap_sent,
            received=self._tap_received,
            send_timeout_seconds=SEND_TIMEOUT_SECONDS,
        )
        self._outbox: asyncio.Queue[messages.Message] = asyncio.Queue(OUTBOX_MESSAGES)
        self._updates: asyncio.Queue[tuple[messages.FrameUpdate, FrameStat]] = asyncio.Queue(
            APPLY_QUEUE_UPDATES
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._end_reason = ""
        self._end_requested = asyncio.Event()
        self._requested_reason = ""
        self._established = False
        self._dropped_outbox = 0
        self._phase_before_drop = Phase.ACTIVE
        self._ending = asyncio.Event()
        # The relays this session can be reached through (endpoint/relays.py).
        self.relays = RelayRoute(settings.relay_url, settings.fingerprint)
        self.resume = ViewerResume(
            ReconnectTarget(
                settings.relay_url,
                "/v1/viewer",
                settings.fingerprint,
                settings.token,
                route=self.relays,
            ),  # fmt: skip
            evidence,
            connect,
            give_up_after_seconds=settings.resume_give_up_seconds,
        )

    # ---- for displays -------------------------------------------------------------------

    def submit(self, message: messages.Message) -> None:
        """Queue a message for the host from any thread (input, chat, requests)."""
        self._call_on_loop(self._enqueue, message)

    def request_end(self, reason: str = "the technician ended the session") -> None:
        """End the session from any thread: Bye to the host, then close."""
        self._call_on_loop(self._note_end_request, reason)

    def _call_on_loop(self, function: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        # The loop may shut down between the check and the call: then the session is over.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(function, *args)

    def _note_end_request(self, reason: str) -> None:
        if not self._end_requested.is_set():
            self._requested_reason = reason
            self._end_requested.set()

    async def send(self, message: messages.Message) -> None:
        """Seal and send one message (on the loop). Input waits for view-and-control."""
        if isinstance(message, messages.INPUT_TYPES) and not self._may_send_input():
            return
        if self.wire.session is None:
            raise ProtocolError("no message can be sent before the session is established")
        if self.status.phase in (Phase.ENDING, Phase.ENDED) and not isinstance(
            message, messages.Bye
        ):
            return  # after the final checkpoint only the Bye goes out
        await self.wire.send(message)

    async def _checkpoint_periodically(self) -> None:
        evidence = self.evidence
        if evidence is None:
            return
        while evidence.recording:
            await asyncio.sleep(evidence.settings.checkpoint_interval_seconds)
            await self.wire.checkpoint()

    def _recording_now(self) -> bool:
        return self.evidence is not None and self.evidence.recording

    async def end(self, reason: str = "the technician ended the session") -> None:
        """Say goodbye to the host (when there is one) and close the link."""
        if self.status.phase in (Phase.ENDING, Phase.ENDED):
            return
        self._end_reason = reason
        self._ending.set()
        established = self._established
        session_open = (
            self.wire.session is not None and self.wire.session.state is SessionState.OPEN
        )
        self._set_status(phase=Phase.ENDING)
        try:
            await self._say_goodbye(reason, established=established, session_open=session_open)
        finally:
            self._end_finished.set()

    async def _say_goodbye(self, reason: str, *, established: bool, session_open: bool) -> None:
        link = self.wire.link
        if link is None:
            return
        try:
            if established and session_open and self._may_say_goodbye():
                exchange = self._recording_now() and self._peer_records
                await self.wire.checkpoint(final=True)
                await self.send(messages.Bye(reason))
                if exchange:
                    # The host answers with its final checkpoint and Bye (see evidence.py).
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(END_EXCHANGE_TIMEOUT_SECONDS):
                            await self._peer_said_bye.wait()
        except (FernwartungError, TimeoutError):
            pass  # the link is already gone; closing below is all that is left to do
        # The END record before the relay's End: its final report anchors the end too.
        await self._close_recording(reason)
        await tell_relay_the_end(
            link, None, control.End(reason), timeout_seconds=SEND_TIMEOUT_SECONDS
        )
        await self._close_link()

    def _may_say_goodbye(self) -> bool:
        """After the recording failed nothing more is sent to the host."""
        return self.evidence is None or self.evidence.failure is None

    # ---- the run ------------------------------------------------------------------------

    async def run(self, companions: Sequence[Companion] = ()) -> Outcome:
        """Run the whole session; `companions` run alongside while it is established."""
        self._loop = asyncio.get_running_loop()
        decoder = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="viewer-decode")
        try:
            async with asyncio.TaskGroup() as group:
                watcher = group.create_task(self._end_when_asked())
                try:
                    await self._run(decoder, companions)
                finally:
                    watcher.cancel()
            reason = self._end_reason
            outcome = Outcome(
                ExitStatus.ENDED, f"Session ended: {reason}" if reason else "Session ended", reason
            )
        except BaseExceptionGroup as group:
            error = _first_fernwartung_error(group)
            if not isinstance(error, FernwartungError):
                raise
            if isinstance(error, RecordingFailed):
                self._set_status(recording=False)
                await self._end_with_reason(END_RECORDING_FAILED)
            elif isinstance(error, ProtocolError):
                await self._end_with_reason(END_MESSAGE_REFUSED)
            outcome = self._outcome(error)
        finally:
            decoder.shutdown(wait=True, cancel_futures=True)
            # While the link is open (the relay keeps it a while after the host's End),
            # so that the final report reaches the ledger.
            await self._close_recording(self._end_reason or "the session ended")
            await self._close_link()
            self._set_status(phase=Phase.ENDED, recording=False)
        return outcome

    async def _end_with_reason(self, reason: str) -> None:
        """Tell the relay, and through it the customer, why the session ends (a message
        that failed its check, a failed recording): it ends for both at once instead of
        looking like a dropped link. Nothing else is sent."""
        self._end_reason = reason
        link = self.wire.link
        if link is not None:
            end = control.End(reason)
            await tell_relay_the_end(link, None, end, timeout_seconds=SEND_TIMEOUT_SECONDS)

    async def _close_recording(self, reason: str) -> None:
        """Write the END record and report the final heads to the relay, if the link is up."""
        evidence = self.evidence
        if evidence is None:
            return
        if evidence.recording:
            try:
                self._final_report = await close_recording(evidence, reason)
            except RecordingFailed:
                self._set_status(recording=False)
        report, link = self._final_report, self.wire.link
        if report is None or link is None:
            return
        if await tell_relay_the_end(link, report, None, timeout_seconds=SEND_TIMEOUT_SECONDS):
            self._final_report = None

    async def _end_when_asked(self) -> None:
        """End on request (a button, a companion) or when the time limit is reached."""
        try:
            async with asyncio.timeout(self.settings.end_after_seconds):
                await self._end_requested.wait()
            reason = self._requested_reason
        except TimeoutError:
            reason = "the viewer's time limit was reached"
        await self.end(reason)

    def _join_request(self) -> control.Join:
        return control.Join(
            session=self.settings.code.session,
            version=PROTOCOL_VERSION,
            customer=self.settings.customer,
        )

    def _outcome(self, error: FernwartungError) -> Outcome:
        if isinstance(error, RecordingFailed):
            return Outcome(ExitStatus.ERROR, f"The session was ended: {error}")
        if self.status.phase is Phase.ENDING and isinstance(error, SessionEnded):
            return Outcome(ExitStatus.ENDED, f"Session ended: {self._end_reason}", self._end_reason)
        return outcome_for(error, established=self._established)

    async def _run(
        self, decoder: concurrent.futures.Executor, companions: Sequence[Companion]
    ) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                self.wire.link = await self._connect(
                    self.settings.relay_url,
                    "/v1/viewer",
                    fingerprint_pin=self.settings.fingerprint,
                    token=self.settings.token,
                )
        except TimeoutError:
            raise RelayUnreachable("the relay did not answer in time") from None
        if self.status.phase is Phase.ENDING:
            raise SessionEnded(self._end_reason)
        link = self.wire.link
        self._set_status(phase=Phase.JOINING)
        await link.send_control(self._join_request())
        try:
            async with asyncio.timeout(JOIN_TIMEOUT_SECONDS):
                joined = await link.receive()
                if isinstance(joined, control.Redirect):  # the session is on another relay
                    link, joined = await follow_redirect(
                        self.relays, link, joined, "/v1/viewer", self._join_request,
                        token=self.settings.token, connect=self._connect,
                    )  # fmt: skip
                    self.wire.link = link
        except TimeoutError:
            raise RelayUnreachable("the relay did not confirm the join in time") from None
        if not isinstance(joined, control.Joined):
            raise ProtocolError("the relay did not confirm the join")
        self.relays.learn(joined.relays)
        if (tariff := joined.tariff()) is not None:
            self._set_status(tariff=tariff)
        self.technician = joined.technician
        try:
            await self._handshake(link)
        except TimeoutError:
            raise SessionEnded(
                "the code check did not finish in time: the customer's agent did not answer"
            ) from None
        try:
            await self._greet(link)
        except TimeoutError:
            raise SessionEnded("the customer's agent did not greet in time") from None
        self._set_status(phase=Phase.AWAITING_CONSENT)
        try:
            async with asyncio.timeout(CONSENT_TIMEOUT_SECONDS):
                while self.status.phase is Phase.AWAITING_CONSENT:
                    await self._dispatch(await link.receive())
        except TimeoutError:
            raise SessionEnded("the customer did not answer in time") from None
        async with asyncio.TaskGroup() as group:
            helpers = [
                group.create_task(self._apply_updates(decoder)),
                group.create_task(self._drain_outbox()),
                group.create_task(self._checkpoint_periodically()),
                *(group.create_task(companion(self)) for companion in companions),
            ]
            try:
                while True:
                    await self._dispatch(await self._receive_or_reconnect())
            finally:
                for task in helpers:
                    task.cancel()

    async def _receive_or_reconnect(self) -> control.Control | bytes:
        """The next frame; a dropped link of a consented session is restored first."""
        while True:
            link = self.wire.link
            if link is None:
                raise SessionEnded(self._end_reason or "the connection to the relay is closed")
            try:
                return await link.receive()
            except ConnectionLost:
                if not self._may_resume():
                    raise
            await self._reconnect()

    # ---- resuming after a dropped connection (viewer/reconnect.py) -----------------------

    def _may_resume(self) -> bool:
        session = self.wire.session
        return (
            self.status.phase in (Phase.ACTIVE, Phase.PAUSED, Phase.RECONNECTING)
            and session is not None
            and session.keys is not None
            and not self._ending.is_set()
        )

    def _interrupted(self, *, own_link: bool) -> None:
        assert self.wire.session is not None
        self.wire.session.detach()
        if self.status.phase is not Phase.RECONNECTING:
            self._phase_before_drop = self.status.phase
            self._set_status(phase=Phase.RECONNECTING)
        self.resume.interruption.begin(own_link=own_link)

    async def _reconnect(self) -> None:
        """Our link dropped: get a new one (or raise why not), then go on resuming."""
        self._interrupted(own_link=True)
        await self._close_link()
        self.wire.link = None
        assert self.wire.session is not None
        link, answer = await self.resume.reconnect(
            self.wire.session, self.settings.code.session, self._wait_for_end
        )
        self.wire.link = link
        if self._ending.is_set():
            raise SessionEnded(self._end_reason)
        if isinstance(answer, control.Resumed):
            await self._on_resumed(answer.epoch)

    async def _wait_for_end(self) -> str:
        """Until the session ends or the technician asks it to; the reason it ends."""
        ended = asyncio.ensure_future(self._ending.wait())
        asked = asyncio.ensure_future(self._end_requested.wait())
        try:
            await asyncio.wait([ended, asked], return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            asked.cancel()
        if not self._end_reason:
            self._end_reason = self._requested_reason or "the technician ended the session"
        return self._end_reason

    async def _on_resumed(self, epoch: int) -> None:
        session, link = self.wire.session, self.wire.link
        if session is None or link is None:
            return
        async with self.wire.lock:
            await self.resume.resumed(session, link, epoch)

    async def _peer_state(self, frame: bytes) -> None:
        """The host's resume state: what it missed goes out, then the session carries on."""
        assert self.wire.session is not None
        async with self.wire.lock:
            await self.resume.peer_state(self.wire.session, self.wire.link, frame)
        self._set_status(phase=self._phase_before_drop)

    async def _handshake(self, link: RelayLink) -> None:
        self._set_status(phase=Phase.HANDSHAKE)
        session = PeerSession(Role.VIEWER, self.settings.code)
        await link.send_binary(session.start())
        async with asyncio.timeout(HANDSHAKE_TIMEOUT_SECONDS):
            while session.keys is None:
                frame = await link.receive()
                if not isinstance(frame, bytes):
                    self._handle_control(frame)
                    continue
                for event in session.receive(frame):
                    if isinstance(event, Send):
                        await link.send_binary(event.data)
                    elif isinstance(event, Established):
                        self.wire.session = session
                        self._established = True
                        await send_verifier(session, link)
                    else:
                        raise ProtocolError("the host sent a message before the handshake ended")

    async def _greet(self, link: RelayLink) -> None:
        """The host's Hello first (its screen size heads the recording), then ours."""
        self._set_status(phase=Phase.GREETING)
        async with asyncio.timeout(HELLO_TIMEOUT_SECONDS):
            received = await self._receive_first(link)
        hello = received.message
        if not isinstance(hello, messages.Hello):
            raise ProtocolError("the host did not start with a Hello")
        capabilities = VIEWER_CAPABILITIES
        if self.evidence is not None:
            # The technician's name as the relay verified it (Joined), the terms the host
            # showed its customer (its Hello): the same header fields as the host's file.
            self.evidence.start(
                self.settings.code.session,
                self.technician,
                hello.screen_width,
                hello.screen_height,
                terms_hash=terms_hash_from(hello.capabilities),
            )
            capabilities += (RECORDING_CAPABILITY,)
        self.wire.note_received(received)
        messages.negotiate_version(SUPPORTED_VERSIONS, hello.versions)
        self._peer_records = RECORDING_CAPABILITY in hello.capabilities
        self.wire.pad_for_peer = PADDING_CAPABILITY in hello.capabilities
        await self.send(messages.Hello(SUPPORTED_VERSIONS, capabilities, 0, 0))

    async def _receive_first(self, link: RelayLink) -> Received:
        while True:
            frame = await link.receive()
            if not isinstance(frame, bytes):
                self._handle_control(frame)
                continue
            return self._decrypt(frame)

    def _decrypt(self, frame: bytes) -> Received:
        if self.wire.session is None:
            raise ProtocolError("a message arrived before the session was established")
        (event,) = self.wire.session.receive(frame)
        if not isinstance(event, Received):
            raise ProtocolError("the host sent handshake data after the handshake")
        return event

    def _open(self, frame: bytes) -> Received:
        event = self._decrypt(frame)
        self.wire.note_received(event)
        return event

    def _handle_control(self, message: control.Control) -> None:
        if isinstance(message, control.PeerLeft):
            raise SessionEnded(message.reason)
        if isinstance(message, control.End):
            raise SessionEnded(message.reason)
        raise ProtocolError(f"the relay sent an unexpected '{message.TYPE}' message")

    async def _dispatch(self, frame: control.Control | bytes) -> None:
        if isinstance(frame, control.End | control.PeerLeft) and self._ending.is_set():
            # The host answered our goodbye and ended: our own end() writes the END record
            # and reports it before the session is torn down (it must not be cut short).
            self._peer_said_bye.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ENDING_SECONDS):
                    await self._end_finished.wait()
        if isinstance(frame, control.PeerReconnecting):
            if self._may_resume():
                self._interrupted(own_link=False)
            return
        if isinstance(frame, control.Resumed):
            await self._on_resumed(frame.epoch)
            return
        if not isinstance(frame, bytes):
            self._handle_control(frame)
            return
        if self.wire.session is not None and self.wire.session.state is SessionState.RESUMING:
            await self._peer_state(frame)
            return
        if self.evidence is not None and self.evidence.ended:
            return  # after the END record: what still arrives is neither recorded nor shown
        received = self._open(frame)
        message = received.message
        if isinstance(message, messages.FrameUpdate):
            stat = FrameStat(
                seq=message.seq,
                capture_ts=message.capture_time,
                recv_ts=time.time(),
                bytes=len(received.plaintext),
                tiles=len(message.tiles),
                padding=padding_of(received.plaintext),
            )
            await self._updates.put((message, stat))
        elif isinstance(message, messages.Cursor):
            self._on_event(CursorMoved(message.x, message.y, message.visible))
        elif isinstance(message, messages.ConsentState):
            self._change_consent(message.level)
        elif isinstance(message, messages.Pause):
            self._set_status(phase=Phase.PAUSED)
        elif isinstance(message, messages.Resume):
            self._set_status(phase=Phase.ACTIVE)
        elif isinstance(message, messages.Chat):
            self._on_event(ChatReceived(message.text))
        elif isinstance(message, messages.Bye):
            if self.status.phase is Phase.ENDING:
                self._peer_said_bye.set()  # the host's answer to our Bye: end() goes on
                return
            await self._answer_bye(message.reason)
            raise SessionEnded(customer_ended(message.reason))
        elif isinstance(message, messages.Checkpoint):
            pass  # the recorder saw it in _note_received; nothing else to do
        else:
            raise ProtocolError(f"a host does not send {type(message).__name__} messages")

    async def _answer_bye(self, reason: str) -> None:
        """The host ended: our final checkpoint and Bye, then the relay's End (evidence.py)."""
        if not (self._recording_now() and self._peer_records) or self.wire.link is None:
            return
        self._end_reason = customer_ended(reason)
        self._set_status(phase=Phase.ENDING)
        link = self.wire.link
        with contextlib.suppress(TimeoutError, SessionEnded):
            async with asyncio.timeout(END_EXCHANGE_TIMEOUT_SECONDS):
                await self.wire.checkpoint(final=True)
                await self.send(messages.Bye("the customer ended the session"))
                while True:
                    frame = await link.receive()
                    if not isinstance(frame, bytes):
                        return  # the relay's End (or PeerLeft): the exchange is complete
                    self._open(frame)

    def _change_consent(self, level: messages.ConsentLevel) -> None:
        if level is messages.ConsentLevel.DENIED:
            raise ConsentDenied("the customer declined the session")
        if level is messages.ConsentLevel.PENDING:
            raise ProtocolError("the host sent a pending consent level")
        since = self.status.consent_since
        phase = self.status.phase
        if phase is Phase.AWAITING_CONSENT:
            phase = Phase.ACTIVE
        self._set_status(
            consent=level,
            consent_since=since if since is not None else time.monotonic(),
            phase=phase,
        )

    async def _apply_updates(self, decoder: concurrent.futures.Executor) -> None:
        loop = asyncio.get_running_loop()
        while True:
            update, stat = await self._updates.get()
            regions = await loop.run_in_executor(decoder, self.framebuffer.apply, update)
            self._on_stat(stat)
            self._on_event(FrameApplied(stat, tuple(regions)))
            await self.send(messages.Ack(update.seq))

    async def _drain_outbox(self) -> None:
        while True:
            await self.send(await self._outbox.get())

    def _enqueue(self, message: messages.Message) -> None:
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            self._dropped_outbox += 1

    def _may_send_input(self) -> bool:
        return (
            self.status.consent is messages.ConsentLevel.CONTROL
            and self.status.phase is Phase.ACTIVE
        )

    def _set_status(self, **changes: object) -> None:
        self.status = dataclasses.replace(self.status, **changes)  # type: ignore[arg-type]
        self._on_event(StatusChanged(self.status))

    async def _close_link(self) -> None:
        link = self.wire.link
        if link is None:
            return
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await link.close(self._end_reason)
        except (TimeoutError, OSError, FernwartungError):
            pass  # closing a broken link: nothing more can be done

    # ---- the one place every message passes ---------------------------------------------

    def _tap_sent(self, message: messages.Message, plaintext: bytes) -> None:
        now = time.time()
        for tap in self._taps:
            tap.sent(message, plaintext, now)

    def _tap_received(self, message: messages.Message, plaintext: bytes) -> None:
        now = time.time()
        for tap in self._taps:
            tap.received(message, plaintext, now)
