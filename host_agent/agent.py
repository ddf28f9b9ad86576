"""The host agent's session shell: relay link, handshake, consent, streaming, input, kill switch.

All protocol decisions are made in `protocol/` (PeerSession, messages, control); this
module owns the sockets, the tasks, the capture thread and the customer's commands.

One inbox (an asyncio queue) carries everything that can happen: frames from the relay,
a lost link, the customer's commands. The main loop takes them one at a time, so the
session's state (`AgentState`) only ever changes in one place.

The agent holds the parts it is built from and hands each what it needs: the screen
stream (`Streamer`, host_agent/streaming.py), the link's state and the way back after a
dropped connection (`HostResume`, host_agent/reconnect.py), the input gate, the
customer's consent and the recording. None of them knows the agent.

Kill switch: `kill()` may be called from any thread (Tk, a signal handler). It closes the
input gate at once (nothing is injected after it returns), then the main loop sends a bye,
tells the relay and closes the link (`_end`). It wins over a reconnect: `HostResume.stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from endpoint.ending import (
    END_MESSAGE_REFUSED,
    END_RECORDING_FAILED,
    close_recording,
    tell_relay_the_end,
)
from endpoint.evidence import (
    END_EXCHANGE_TIMEOUT_SECONDS,
    RECORDING_CAPABILITY,
    TERMS_NOT_SHOWN,
    SessionEvidence,
)
from endpoint.reconnect import ReconnectTarget, send_verifier
from endpoint.relay_link import RelayLink, open_link
from endpoint.relays import RelayRoute
from endpoint.wire import SessionWire
from host_agent import events as ui
from host_agent.activity import FLUSH_EVERY_SECONDS, ActivitySummary
from host_agent.capture import CaptureError, Monitor, ScreenSource, SharingRefused
from host_agent.consent import Consent, Phase, Sharing
from host_agent.evidence import InputOutcomes, host_evidence
from host_agent.flow import FlowControl
from host_agent.inbox import (
    EXIT_ERROR,
    EXIT_OK,
    AgentState,
    CaptureLost,
    CheckpointDue,
    CodeExpired,
    Frame,
    HandshakeTimedOut,
    Injected,
    LinkLost,
    Reconnected,
    ReconnectFailed,
    RecordingLost,
    Stop,
)
from host_agent.inject import Bounds, InputBackend, InputGate
from host_agent.pipeline import FramePipeline
from host_agent.reconnect import GIVE_UP_AFTER_SECONDS, HostResume, LinkState
from host_agent.streaming import Streamer
from host_agent.summary import EndFacts, end_summary
from host_agent.texts import Texts
from protocol import PROTOCOL_VERSION, SUPPORTED_VERSIONS, control, messages
from protocol.billing import Tariff
from protocol.codes import Code, new_code
from protocol.errors import (
    CertificateMismatch,
    CodeVoid,
    ConnectionLost,
    FernwartungError,
    ProtocolError,
    RecordingFailed,
    RelayUnreachable,
    SessionEnded,
)
from protocol.handshake import Role
from protocol.padding import PADDING_CAPABILITY
from protocol.peer_text import one_line
from protocol.session import Established, PeerSession, Received, Resumed, Send, SessionState
from protocol.terms import terms_capabilities

NETWORK_TIMEOUT_SECONDS = 10.0
BYE_TIMEOUT_SECONDS = 2.0
# The host voids its code itself after this many failed code checks, and when it is older
# than MAX_CODE_TTL_SECONDS (or the relay's shorter time), whatever the relay says: a relay
# must not get more guesses at the secret than a technician.
MAX_FAILED_TRIES = 3
MAX_CODE_TTL_SECONDS = 600.0
# A code check (SPAKE2 and key confirmation) that takes longer counts as a failed try.
HANDSHAKE_TIMEOUT_SECONDS = 15.0
ACTIVITY_TICK_SECONDS = FLUSH_EVERY_SECONDS
DROPPED_REPORT_SECONDS = 5.0
GATE_JOIN_SECONDS = 2.0  # for the injector thread to finish what it injects and stop
CAPABILITIES = (
    "tiles.fill", "tiles.jpeg", "tiles.webp", "cursor", "pause", *messages.RICH_CAPABILITIES,
    PADDING_CAPABILITY,
)  # fmt: skip


def default_tariff() -> Tariff:
    """The tariff shown when the relay sent none (an older relay): the product's defaults."""
    return Tariff()


@dataclass(frozen=True, slots=True)
class AgentSettings:
    relay_url: str
    fingerprint: str | None = None
    monitor: int = 1
    record_directory: Path | None = None  # the customer's own recording, or none
    recording_declined: bool = False  # the customer chose --no-record (said in the log)
    terms_hash: bytes = TERMS_NOT_SHOWN  # SHA-256 of the terms shown, for the recording
    # After a dropped connection, how long to try to resume (the relay decides for sure).
    resume_give_up_seconds: float = GIVE_UP_AFTER_SECONDS
    handshake_timeout_seconds: float = HANDSHAKE_TIMEOUT_SECONDS
    max_code_ttl_seconds: float = MAX_CODE_TTL_SECONDS


# Where every end-to-end message passes: ("sent" | "received", message, plaintext).
Tap = Callable[[str, messages.Message, bytes], None]


class HostAgent:
    def __init__(
        self,
        settings: AgentSettings,
        texts: Texts,
        notify: Callable[[ui.UiEvent], None],
        make_source: Callable[[], ScreenSource],
        make_backend: Callable[[Bounds], InputBackend],
        tap: Tap | None = None,
        evidence: SessionEvidence | None = None,
    ) -> None:
        self.settings = settings
        self.texts = texts
        self._notify = notify
        self._make_backend = make_backend
        # The customer's own recording (--record), None when the customer keeps none.
        if evidence is None and settings.record_directory is not None:
            evidence = host_evidence(
                settings.record_directory, settings.relay_url, settings.terms_hash
            )
        self._evidence = evidence
        self._inputs = InputOutcomes(evidence) if evidence is not None else None
        self._peer_records = False
        self._checkpoint_queued = False
        self.state = AgentState.CONNECTING
        self.consent = Consent()
        self.pipeline = FramePipeline(make_source)
        self.flow = FlowControl(time.monotonic())
        self.activity = ActivitySummary()
        self.gate: InputGate | None = None
        self.technician = ""
        self.tariff = default_tariff()
        self.exit_status = EXIT_OK
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: asyncio.Queue[object] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capture")
        self._code: Code | None = None
        self._failed_tries = 0
        self._code_expires_at = 0.0
        self._handshakes = 0  # code checks begun with this agent's codes, for time-outs
        self._handshake_deadline = 0.0
        self.wire = SessionWire(
            evidence,
            sent=_tapped(tap, "sent"),
            received=_tapped(tap, "received"),
            dropped=self._link_dropped,
            send_timeout_seconds=NETWORK_TIMEOUT_SECONDS,
        )
        # The relays this session can be reached through (endpoint/relays.py).
        self.relays = RelayRoute(settings.relay_url, settings.fingerprint)
        self.resume = HostResume(
            ReconnectTarget(
                settings.relay_url, "/v1/host", settings.fingerprint, route=self.relays
            ),
            evidence,
            post=self._inbox.put_nowait,
            notify=notify,
            show_line=self._show_line,
            give_up_after_seconds=settings.resume_give_up_seconds,
        )
        self.streamer = Streamer(
            self.pipeline, self.flow, self._executor, self.resume.link_up, self.wire.send
        )
        self._started_monotonic = 0.0
        self._monitor: Monitor | None = None
        self._monitor_count = 1
        self._dropped_reported = 0
        self._dropped_reported_at = 0.0
        self._kill_requested = False
        self._readers: set[asyncio.Task[None]] = set()

    @property
    def frames_sent(self) -> int:
        return self.streamer.frames_sent

    # -- entry points for UIs -----------------------------------------------------------

    def command(self, command: ui.Command) -> None:
        """A customer command, from the event loop's thread."""
        if isinstance(command, ui.EndSession):
            self._kill_requested = True
            if self.gate is not None:
                self.gate.end()
            self.pipeline.stop_asking()
        self._inbox.put_nowait(command)

    def command_threadsafe(self, command: ui.Command) -> None:
        """A customer command from another thread (Tk)."""
        if isinstance(command, ui.EndSession):
            self.kill()
            return
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._inbox.put_nowait, command)

    def kill(self) -> None:
        """The kill switch, callable from any thread: no input after this returns."""
        self._kill_requested = True
        if self.gate is not None:
            self.gate.end()
        self.pipeline.stop_asking()  # a system dialog still asking the customer closes
        if self._loop is not None and not self._loop.is_closed():
            # RuntimeError: the loop is already closing, so the session is over anyway.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._inbox.put_nowait, ui.EndSession())

    # -- the session --------------------------------------------------------------------

    async def run(self) -> int:
        """Run one session to its end; returns the exit status."""
        self._loop = asyncio.get_running_loop()
        self._notify(ui.Connecting())
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                main = tasks.create_task(self._main())
                ticker = tasks.create_task(self._tick())
                streamer = tasks.create_task(self._stream())
                await asyncio.wait([main])
                ticker.cancel()
                streamer.cancel()
        finally:
            if self.gate is not None:
                self.gate.end()
                # Its thread lets go of the input backend (X connections) as it ends.
                await asyncio.to_thread(self.gate.join, GATE_JOIN_SECONDS)
            await self._in_capture_thread(self.pipeline.close)
            self._executor.shutdown(wait=False)
        return self.exit_status

    async def _main(self) -> None:
        try:
            self._monitor = await self._in_capture_thread(self._open_source)
            self.gate = InputGate(
                self._make_backend(self._monitor.bounds), self._monitor.bounds, self._injected
            )
            if self._kill_requested:
                raise Stop
            await self._register(why_new=None)
            while True:
                item = await self._inbox.get()
                await self._handle(item)
        except Stop:
            pass
        except TimeoutError:
            with contextlib.suppress(Stop):
                await self._end("reason_relay_lost", EXIT_ERROR)
        except RelayUnreachable:
            with contextlib.suppress(Stop):
                await self._end(
                    "reason_relay_unreachable", EXIT_ERROR, relay=self.settings.relay_url
                )
        except CertificateMismatch:
            with contextlib.suppress(Stop):
                await self._end("reason_certificate", EXIT_ERROR, relay=self.settings.relay_url)
        except RecordingFailed as error:
            with contextlib.suppress(Stop):
                await self._recording_lost(str(error))
        except (CaptureError, FernwartungError) as error:
            with contextlib.suppress(Stop):
                await self._end("reason_error", EXIT_ERROR, detail=str(error))
        finally:
            for reader in self._readers:
                reader.cancel()

    def _open_source(self) -> Monitor:
        self.pipeline.open()
        monitor = self.pipeline.select(self.settings.monitor)
        self._monitor_count = len(self.pipeline.monitors())
        return monitor

    async def _in_capture_thread(self, function, *args):  # type: ignore[no-untyped-def]
        """Run `function` in the capture thread, waking it first: on a still screen it may
        be waiting for a change with no time limit."""
        self.pipeline.wake()
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def _register(self, why_new: str | None) -> None:
        if self.wire.link is not None:
            await self._close_link()
        self.state = AgentState.CONNECTING
        relay = self.relays.current  # (another than the first after a takeover)
        link = await open_link(relay.url, "/v1/host", fingerprint_pin=relay.fingerprint)
        self.wire.link = link
        await link.send_control(control.Register(version=PROTOCOL_VERSION))
        async with asyncio.timeout(NETWORK_TIMEOUT_SECONDS):
            reply = await link.receive()
        if not isinstance(reply, control.Registered):
            raise ProtocolError("the relay did not answer the registration")
        self.tariff = reply.tariff() or default_tariff()
        self.relays.learn(reply.relays)
        self._code = new_code(reply.session)
        self._failed_tries = 0
        ttl = min(float(reply.expires_in), self.settings.max_code_ttl_seconds)
        self._code_expires_at = time.monotonic() + ttl
        self.wire.session = None
        self.state = AgentState.WAITING
        reader = self._tasks.create_task(self._read(link))
        self._readers.add(reader)
        reader.add_done_callback(self._readers.discard)
        self._notify(ui.CodeReady(self._code.spoken(), reply.expires_in, why_new))

    async def _read(self, link: RelayLink) -> None:
        while True:
            try:
                frame = await link.receive()
            except FernwartungError as error:
                self._inbox.put_nowait(LinkLost(link, error))
                return
            self._inbox.put_nowait(Frame(link, frame))

    async def _close_link(self) -> None:
        link, self.wire.link = self.wire.link, None
        if link is not None:
            try:
                async with asyncio.timeout(BYE_TIMEOUT_SECONDS):
                    await link.close()
            except TimeoutError:
                pass

    # -- one item from the inbox --------------------------------------------------------

    async def _handle(self, item: object) -> None:
        if isinstance(item, ui.EndSession):
            await self._end("reason_customer", EXIT_OK)
        elif isinstance(item, Injected):
            self._show(self.activity.add(item.message, item.time))
        elif isinstance(item, CheckpointDue):
            self._checkpoint_queued = False
            await self.wire.checkpoint()
        elif isinstance(item, RecordingLost):
            await self._recording_lost(item.detail)
        elif isinstance(item, CaptureLost):
            await self._end("reason_error", EXIT_ERROR, detail=item.detail)
        elif isinstance(item, HandshakeTimedOut):
            if self.state is AgentState.HANDSHAKE and item.attempt == self._handshakes:
                await self._failed_attempt()
        elif isinstance(item, CodeExpired):
            code = self._code
            if (
                self.state is AgentState.WAITING
                and code is not None
                and item.spoken == code.spoken()
            ):
                await self._register(why_new="code_expired")
        elif isinstance(item, LinkLost):
            if item.link is self.wire.link and not self.resume.reconnecting:
                await self._link_lost(item.error)
        elif isinstance(item, Reconnected):
            await self._on_reconnected(item)
        elif isinstance(item, ReconnectFailed):
            self.resume.failed()
            await self._end("reason_relay_lost", EXIT_ERROR)
        elif isinstance(item, Frame):
            if item.link is self.wire.link:
                await self._relay_frame(item.frame)
        elif isinstance(item, ui.Answer):
            await self._answer(item)
        elif isinstance(item, ui.Command):  # type: ignore[misc,arg-type]
            await self._customer_command(item)

    async def _link_lost(self, error: FernwartungError) -> None:
        if isinstance(error, CodeVoid) and self.state in (AgentState.WAITING, AgentState.HANDSHAKE):
            await self._register(why_new="code_expired")
            return
        session = self.wire.session
        if (
            isinstance(error, ConnectionLost)
            and self.state is AgentState.SHARING
            and session is not None
            and session.keys is not None
            and self._code is not None
            and not self._kill_requested
        ):
            self._release_input()
            await self._close_link()
            self.resume.start(
                session, self._code.session, self._tasks, lambda: self._kill_requested
            )
            return
        await self._end("reason_relay_lost", EXIT_ERROR)

    async def _relay_frame(self, frame: control.Control | bytes) -> None:
        if isinstance(frame, bytes):
            await self._binary(frame)
        elif isinstance(frame, control.PeerJoined):
            await self._peer_joined(frame.technician)
        elif isinstance(frame, control.Void):
            await self._register(why_new="new_code_reason")
        elif isinstance(frame, control.PeerReconnecting):
            if self.state is AgentState.SHARING and self.wire.session is not None:
                self._release_input()
                self.resume.peer_reconnecting(self.wire.session)
        elif isinstance(frame, control.Resumed):
            await self._on_resumed(frame.epoch)
        elif isinstance(frame, control.PeerLeft | control.End):
            if self.state in (AgentState.ASKING, AgentState.SHARING):
                key, technician_reason = _why_the_viewer_went(frame)
                await self._end(key, EXIT_OK, technician_reason=technician_reason)
            else:
                self.wire.session = None
                self.state = AgentState.WAITING
        # Other control messages (Joined, Registered, ...) have no meaning here now.

    async def _peer_joined(self, technician: str) -> None:
        if self.state not in (AgentState.WAITING, AgentState.HANDSHAKE) or self._code is None:
            raise ProtocolError(f"a technician joined while the agent is {self.state.value}")
        if time.monotonic() >= self._code_expires_at:
            await self._register(why_new="code_expired")  # this code answers no one any more
            return
        self.technician = one_line(technician, control.MAX_TECHNICIAN_CHARS)
        self.wire.session = PeerSession(Role.HOST, self._code)
        self.state = AgentState.HANDSHAKE
        self._handshakes += 1
        self._handshake_deadline = time.monotonic() + self.settings.handshake_timeout_seconds
        self._notify(ui.TechnicianConnecting(self.technician))
        await self.wire.send_raw(self.wire.session.start())

    async def _binary(self, data: bytes) -> None:
        session = self.wire.session
        if session is None:
            return  # ciphertext of a viewer that already failed: nothing to do with it
        if session.state is SessionState.RESUMING:
            # The viewer's resume state: what it missed goes out before anything new.
            async with self.wire.lock:
                events = session.receive(data)
                assert self.wire.link is not None
                resumed = await self.resume.send_again(self.wire.link, events, self._link_dropped)
            await self._after_resume(resumed)
            return
        try:
            events = session.receive(data)
        except FernwartungError:
            if self.state is AgentState.HANDSHAKE:
                await self._failed_attempt()
                return
            raise
        for event in events:
            if isinstance(event, Send):
                await self.wire.send_raw(event.data)
            elif isinstance(event, Established):
                await self._established()
            elif isinstance(event, Received):
                index = self.wire.note_received(event)
                if event.redelivered and isinstance(event.message, messages.INPUT_TYPES):
                    self.resume.late_input(index)
                    continue
                await self._message(event.message, index)

    async def _failed_attempt(self) -> None:
        self.wire.session = None
        self._failed_tries += 1
        self.state = AgentState.WAITING
        assert self.wire.link is not None
        await self.wire.link.send_control(control.FailedAttempt())
        self._notify(ui.WrongCodeTried(self._failed_tries, MAX_FAILED_TRIES))
        if self._failed_tries >= MAX_FAILED_TRIES:
            # Void on this side too: a relay that goes on sending technicians gets no more
            # tries at this secret.
            await self._register(why_new="new_code_reason")

    async def _established(self) -> None:
        self.state = AgentState.ASKING
        assert self._monitor is not None and self._code is not None
        bounds = self._monitor.bounds
        capabilities = CAPABILITIES + terms_capabilities(self.settings.terms_hash)
        if self._evidence is not None:
            # Before the first message: the recording holds the whole session.
            self._evidence.start(self._code.session, self.technician, bounds.width, bounds.height)
            self._show_line("ev_recording_to", path=self._evidence.path)
            capabilities += (RECORDING_CAPABILITY,)
        elif self.settings.recording_declined:
            self._show_line("ev_not_recording")
        await send_verifier(self.wire.session, self.wire.link)
        await self.wire.send(
            messages.Hello(
                versions=SUPPORTED_VERSIONS,
                capabilities=capabilities,
                screen_width=bounds.width,
                screen_height=bounds.height,
            )
        )
        self._notify(ui.ConsentAsked(self.technician, self.tariff.rate_per_minute, self.tariff))

    # -- messages from the viewer -------------------------------------------------------

    async def _message(self, message: messages.Message, index: int) -> None:
        if isinstance(message, messages.INPUT_TYPES):
            assert self.gate is not None
            verdict = self.gate.submit(message, time.monotonic())
            if self._inputs is not None and index >= 0:
                self._inputs.submitted(index, message, verdict)
        elif isinstance(message, messages.Ack):
            self.flow.on_ack(message.seq, time.monotonic())
            self.streamer.acked()
        elif isinstance(message, messages.Hello):
            messages.negotiate_version(SUPPORTED_VERSIONS, message.versions)
            self._peer_records = RECORDING_CAPABILITY in message.capabilities
            self.wire.pad_for_peer = PADDING_CAPABILITY in message.capabilities
            self.pipeline.accept_capabilities(message.capabilities)
        elif isinstance(message, messages.RefreshRequest):
            self.pipeline.request_full()
        elif isinstance(message, messages.ControlRequest):
            self._show_line("ev_control_requested")
            if self.consent.level is messages.ConsentLevel.VIEW:
                self._notify(ui.ControlRequested(self.technician))
        elif isinstance(message, messages.Chat):
            self._show_line("ev_chat", text=one_line(message.text))
        elif isinstance(message, messages.Bye):
            await self._end(
                "reason_viewer_left", EXIT_OK, peer_ended=True, technician_reason=message.reason
            )
        elif isinstance(message, messages.Checkpoint):
            pass  # the viewer's chain head: the recording checked it in _note_received
        else:
            raise ProtocolError(f"the viewer may not send {type(message).__name__}")

    # -- the customer's answers and commands ----------------------------------------------

    async def _answer(self, answer: ui.Answer) -> None:
        if self.state is not AgentState.ASKING:
            return  # a late click on a closed question
        level = answer.level
        if level is not messages.ConsentLevel.DENIED:
            level = await self._ask_the_system(level)
        if self._kill_requested:
            return  # the customer closed the agent meanwhile: the EndSession waiting ends it
        view = self.consent.answer(level)
        await self.wire.send(messages.ConsentState(level))
        await self._report_consent()
        if view.phase is Phase.DENIED:
            self._notify(ui.ActivityLine(self.texts("ev_denied")))
            await self._end("reason_denied", EXIT_OK)
            return
        self.state = AgentState.SHARING
        self._started_monotonic = time.monotonic()
        self._notify(ui.ActivityLine(self.texts("ev_consent", level=self._level_text())))
        self._apply_consent()

    async def _ask_the_system(self, level: messages.ConsentLevel) -> messages.ConsentLevel:
        """After the customer's yes, a backend that asks the customer itself (the Wayland
        portal's dialog) asks now; a no there is a denial. The monitor shared is the one
        the customer picked there, at its real size."""
        try:
            monitor = await self._in_capture_thread(self.pipeline.start_sharing)
        except SharingRefused:
            self._show_line("portal_refused")
            return messages.ConsentLevel.DENIED
        self._monitor = monitor
        self._monitor_count = len(self.pipeline.monitors())
        assert self.gate is not None
        self.gate.set_bounds(monitor.bounds)
        return level

    async def _report_consent(self) -> None:
        if self.wire.link is None or self.resume.state is not LinkState.UP:
            self.resume.consent_unreported = True  # told to the relay after the resume
            return
        level = control.ReportedConsent(self.consent.level.value)
        tariff = self.tariff
        await self.wire.link.send_control(
            control.Consent(
                level=level,
                technician=self.technician,
                rate_per_minute=str(tariff.rate_per_minute),
                vat_percent=str(tariff.vat_percent),
                terms_hash=self.settings.terms_hash.hex() if any(self.settings.terms_hash) else "",
            )
        )

    def _level_text(self) -> str:
        key = (
            "level_control" if self.consent.level is messages.ConsentLevel.CONTROL else "level_view"
        )
        return self.texts(key)

    def _apply_consent(self) -> None:
        """Make gate, capture and UI follow the consent state."""
        view = self.consent.view()
        assert self.gate is not None
        if view.may_inject:
            self.gate.open()
        else:
            self.gate.block()
        if view.may_capture:
            self.streamer.start()
        else:
            self.streamer.hold()
        assert self._monitor is not None
        tariff = self.tariff
        self._notify(
            ui.SharingChanged(
                consent=view,
                technician=self.technician,
                started_monotonic=self._started_monotonic,
                tariff=tariff,
                monitor=self._monitor.number,
                monitors=self._monitor_count,
            )
        )

    async def _customer_command(self, command: ui.Command) -> None:
        if self.state is not AgentState.SHARING:
            return  # pause, level and monitor only mean something while sharing
        if isinstance(command, ui.ChangeLevel):
            if command.level is self.consent.level:
                return
            self.consent.change_level(command.level)
            await self.wire.send(messages.ConsentState(command.level))
            await self._report_consent()
            self._show_line("ev_consent", level=self._level_text())
        elif isinstance(command, ui.PauseSharing):
            if self.consent.sharing is Sharing.PAUSED:
                return
            self.consent.pause()
            await self.wire.send(messages.Pause())
            self._show_line("ev_paused")
        elif isinstance(command, ui.ResumeSharing):
            if self.consent.sharing is Sharing.ACTIVE:
                return
            self.consent.resume()
            await self.wire.send(messages.Resume())
            self._show_line("ev_resumed")
        elif isinstance(command, ui.SelectMonitor):
            try:
                monitor = await self._in_capture_thread(self.pipeline.select, command.number)
            except CaptureError as error:
                self._notify(ui.ActivityLine(str(error)))
                return
            self._monitor = monitor
            assert self.gate is not None
            self.gate.set_bounds(monitor.bounds)
            self.flow.reset()
            self.streamer.switched()
            self._show_line("ev_monitor", number=monitor.number)
        self._apply_consent()

    def _show_line(self, key: str, **values: object) -> None:
        self._notify(ui.ActivityLine(self.texts(key, **values)))

    # -- the activity log -----------------------------------------------------------------

    def _injected(self, message: messages.Message) -> None:
        """Called in the injector thread after each injection."""
        item: object = Injected(message, time.monotonic())
        if self._inputs is not None:
            failure = self._inputs.applied(message)
            if failure is not None:
                item = RecordingLost(failure)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            # RuntimeError: the loop closed between the check and the call.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._inbox.put_nowait, item)

    def _show(self, entries) -> None:  # type: ignore[no-untyped-def]
        for entry in entries:
            self._notify(ui.ActivityLine(entry.render(self.texts)))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(ACTIVITY_TICK_SECONDS)
            now = time.monotonic()
            self._show(self.activity.flush(now))
            if self.state is AgentState.HANDSHAKE and now >= self._handshake_deadline:
                self._handshake_deadline = float("inf")  # one item per handshake
                self._inbox.put_nowait(HandshakeTimedOut(self._handshakes))
            if self.state is AgentState.WAITING and now >= self._code_expires_at:
                self._code_expires_at = float("inf")  # one item per code
                assert self._code is not None
                self._inbox.put_nowait(CodeExpired(self._code.spoken()))
            evidence = self._evidence
            if evidence is not None and not self._checkpoint_queued and evidence.checkpoint_due():
                self._checkpoint_queued = True
                self._inbox.put_nowait(CheckpointDue())
            if self.gate is not None and now - self._dropped_reported_at >= DROPPED_REPORT_SECONDS:
                dropped = self.gate.counters.dropped_no_control
                if dropped > self._dropped_reported and self.state is AgentState.SHARING:
                    self._show_line("ev_dropped", count=dropped - self._dropped_reported)
                    self._dropped_reported = dropped
                    self._dropped_reported_at = now

    # -- streaming ----------------------------------------------------------------------

    async def _stream(self) -> None:
        """Capture and send frame updates while the customer shares, under flow control."""
        try:
            await self.streamer.run()
        except RecordingFailed as error:
            self._inbox.put_nowait(RecordingLost(str(error)))
        except CaptureError as error:
            # The screen can no longer be read (sharing stopped in the system's own
            # indicator on Wayland, say): the session ends, the customer is told why.
            self._inbox.put_nowait(CaptureLost(str(error)))
        except (FernwartungError, TimeoutError) as error:
            failure = error if isinstance(error, FernwartungError) else SessionEnded("timeout")
            if self.wire.link is not None:
                self._inbox.put_nowait(LinkLost(self.wire.link, failure))

    # -- resuming after a dropped connection (host_agent/reconnect.py) -------------------

    def _release_input(self) -> None:
        """The link to the technician is interrupted: keys and buttons they hold are let
        go now, and nothing is injected until the session is whole again (_after_resume
        opens the gate as the consent says)."""
        if self.gate is not None:
            self.gate.block()

    async def _on_reconnected(self, item: Reconnected) -> None:
        self.wire.link = item.link
        reader = self._tasks.create_task(self._read(item.link))
        self._readers.add(reader)
        reader.add_done_callback(self._readers.discard)
        if self.resume.reconnected(item.answer):
            assert isinstance(item.answer, control.Resumed)
            await self._on_resumed(item.answer.epoch)

    async def _on_resumed(self, epoch: int) -> None:
        session, link = self.wire.session, self.wire.link
        if session is None or link is None:
            return
        async with self.wire.lock:
            await self.resume.resumed(session, link, epoch, self._link_dropped)

    async def _after_resume(self, resumed: Resumed) -> None:
        """The viewer has everything it missed: carry on as before the drop."""
        self.resume.finished(resumed)
        if self.resume.consent_unreported:
            self.resume.consent_unreported = False
            await self._report_consent()
        self.streamer.restart()
        self.resume.up()
        self.streamer.acked()
        self._apply_consent()

    # -- the end ----------------------------------------------------------------------------

    async def _end(
        self,
        reason_key: str,
        status: int,
        *,
        peer_ended: bool = False,
        technician_reason: str = "",
        **values: object,
    ) -> None:
        """End the session: stop input and capture, say goodbye, close recording and link.

        `peer_ended`: the viewer said Bye first. The goodbye is skipped after the recording
        failed (nothing may be sent that the recording does not hold), and when the link
        is down (reconnecting: the peer could not get it anyway). The end of a recorded
        session exchanges final checkpoints (endpoint/evidence.py).
        """
        if self.state is AgentState.ENDED:
            raise Stop
        if self.gate is not None:
            self.gate.end()
        self.consent.end()
        self.streamer.hold()
        await self.resume.stop()
        previous, self.state = self.state, AgentState.ENDED
        self.wire.close_after_bye()
        self.exit_status = status
        english = Texts("en")(reason_key, **values)[: messages.MAX_REASON_CHARS]
        self._show(self.activity.flush(time.monotonic(), force=True))
        evidence = self._evidence
        shared = self._started_monotonic > 0
        facts = EndFacts(
            reason_key,
            values,
            time.monotonic() - self._started_monotonic if shared else None,
            self.tariff,
            evidence.path if evidence is not None and evidence.started else None,
            self.settings.recording_declined,
            technician_reason,
        )
        self._notify(end_summary(self.texts, facts))
        link = self.wire.link
        recording_ok = self._evidence is None or self._evidence.failure is None
        link_usable = link is not None
        if link is not None:
            try:
                session_open = self.wire.session is not None and (
                    self.wire.session.state is SessionState.OPEN
                )
                if (
                    recording_ok
                    and session_open
                    and previous in (AgentState.ASKING, AgentState.SHARING)
                ):
                    await self._say_goodbye(english, peer_ended)
            except RecordingFailed as error:
                self._show_line("ev_recording_failed", detail=str(error))
                link_usable = False
            except (FernwartungError, TimeoutError, OSError):
                link_usable = False  # the link is gone already: closing is all that is left
        # The END record before the relay's End: its final report anchors the end too.
        report = await self._close_recording(english)
        if link is not None:
            if link_usable:
                await tell_relay_the_end(
                    link,
                    report,
                    control.End(reason=english, peer_ended=peer_ended),
                    timeout_seconds=BYE_TIMEOUT_SECONDS,
                )
            await self._close_link()
        raise Stop

    async def _say_goodbye(self, reason: str, peer_ended: bool) -> None:
        """Final checkpoint and Bye; when both record, read on until the exchange is done."""
        evidence = self._evidence
        exchange = evidence is not None and evidence.recording and self._peer_records
        async with asyncio.timeout(BYE_TIMEOUT_SECONDS):
            if evidence is not None and not evidence.final_checkpoint_sent:
                await self.wire.checkpoint(final=True)
            await self.wire.send(messages.Bye(reason))
        if exchange:
            # The viewer answers our Bye with its final checkpoint and Bye; after its own
            # Bye it waits for the relay's End. Either way its checkpoint lands in our file.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(END_EXCHANGE_TIMEOUT_SECONDS):
                    await self._read_until_done(wait_for_bye=not peer_ended)

    async def _read_until_done(self, *, wait_for_bye: bool) -> None:
        """While ending: record what still arrives until the viewer's Bye or the relay's End."""
        while True:
            item = await self._inbox.get()
            if isinstance(item, LinkLost) and item.link is self.wire.link:
                return
            if not isinstance(item, Frame) or item.link is not self.wire.link:
                continue
            if isinstance(item.frame, control.End | control.PeerLeft):
                return
            if not isinstance(item.frame, bytes) or self.wire.session is None:
                continue
            for event in self.wire.session.receive(item.frame):
                if not isinstance(event, Received):
                    continue
                index = self.wire.note_received(event)
                message = event.message
                if isinstance(message, messages.INPUT_TYPES) and self.gate is not None:
                    verdict = self.gate.submit(message, time.monotonic())
                    if self._inputs is not None and index >= 0:
                        self._inputs.submitted(index, message, verdict)
                elif isinstance(message, messages.Bye) and wait_for_bye:
                    return

    async def _recording_lost(self, detail: str) -> None:
        """Writing the recording failed: end at once, send nothing more, tell the customer."""
        self._show_line("ev_recording_failed", detail=detail)
        await self._end("reason_recording_failed", EXIT_ERROR)

    async def _close_recording(self, reason: str) -> control.Checkpoint | None:
        """Write the END record; the final report for the relay (None: nothing to report)."""
        evidence = self._evidence
        if evidence is None:
            return None
        if evidence.failure is not None or not evidence.recording:
            evidence.abandon()
            return None
        if self.gate is not None:
            # Inputs the injector still had are settled before the last records.
            await asyncio.to_thread(self.gate.join, BYE_TIMEOUT_SECONDS)
        try:
            if self._inputs is not None:
                self._inputs.finish()
            return await close_recording(evidence, reason)
        except RecordingFailed as error:
            self._show_line("ev_recording_failed", detail=str(error))
            evidence.abandon()
        return None

    def _link_dropped(self, link: RelayLink, error: FernwartungError) -> None:
        """A frame could not be put on `link`: the main loop hears of it (a resume sends
        the frame again if it did not arrive)."""
        self._inbox.put_nowait(LinkLost(link, error))


# What the viewer's program says in its `end`, worded for the customer in their language.
_VIEWER_END_REASONS = {
    END_RECORDING_FAILED: "reason_viewer_recording_failed",
    END_MESSAGE_REFUSED: "reason_viewer_refused_message",
}


def _why_the_viewer_went(frame: control.PeerLeft | control.End) -> tuple[str, str]:
    """Why the technician's side ended, for the customer: the text key of a reason the
    viewer's program gives in words the customer's language has, else "the technician
    left" with the reason as the viewer gave it (peer text, shown as one inert line)."""
    key = _VIEWER_END_REASONS.get(frame.reason)
    if key is not None:
        return key, ""
    return "reason_viewer_left", frame.reason


def _tapped(tap: Tap | None, direction: str) -> Callable[[messages.Message, bytes], None]:
    if tap is None:
        return lambda message, plaintext: None
    return lambda message, plaintext: tap(direction, message, plaintext)


__all__ = ["AgentSettings", "AgentState", "HostAgent", "default_tariff"]
