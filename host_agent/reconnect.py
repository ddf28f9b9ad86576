"""The host agent's side of resuming a session after a dropped connection.

`HostAgent` (host_agent/agent.py) mixes this in; the protocol decisions are in
`protocol.session.PeerSession` (detach, switch_epoch, resend) and `endpoint.reconnect`.

    UP --own link lost--> RECONNECTING --relay took us back--> PEER_AWAY or RESUMING
    UP --relay: peer_reconnecting--> PEER_AWAY --relay: resumed--> RESUMING
    RESUMING --the viewer's resume state--> UP (what it missed sent again, a full frame)

While not UP nothing is captured or put on the wire; messages the agent sends meanwhile
(a consent change, say) are recorded and kept by the PeerSession and go out after the
resume. The customer's kill switch wins: once the session ended nothing reconnects (the
reconnect task is cancelled; a link it won anyway only carries `end`). Inputs the viewer
sent before the drop that arrive after it are recorded and dropped, never injected late.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from typing import TYPE_CHECKING

from endpoint.reconnect import (
    GIVE_UP_AFTER_SECONDS,
    RESUME_SEND_TIMEOUT_SECONDS,
    ReconnectTarget,
    reconnect,
    send_verifier,
)
from endpoint.relay_link import RelayLink
from host_agent import events as ui
from host_agent.inbox import AgentState, Reconnected, ReconnectFailed
from protocol import PROTOCOL_VERSION, control, messages
from protocol.errors import ConnectionLost, FernwartungError
from protocol.session import Resumed, Send

if TYPE_CHECKING:
    from host_agent.agent import HostAgent

REASON_LATE_INPUT = "dropped: sent before the connection dropped, delivered after it"


class LinkState(enum.Enum):
    UP = "up"
    PEER_AWAY = "the technician is reconnecting"
    RECONNECTING = "reconnecting"
    RESUMING = "resuming"


class ResumeMixin:
    """Resume handling for `HostAgent`; it relies on the agent's session, link and inbox."""

    def _init_resume(self: HostAgent) -> None:
        self.link_state = LinkState.UP
        self._link_up = asyncio.Event()
        self._link_up.set()
        self._reconnect_task: asyncio.Task[None] | None = None
        self._won_link: RelayLink | None = None  # taken back, not yet in use by the main loop
        self._interrupted_at: float | None = None
        self._consent_unreported = False
        self._late_inputs_dropped = 0

    def _may_resume(self: HostAgent, error: FernwartungError) -> bool:
        return (
            isinstance(error, ConnectionLost)
            and self.state is AgentState.SHARING
            and self._session is not None
            and self._session.keys is not None
            and not self._kill_requested
        )

    async def _send_verifier(self: HostAgent) -> None:
        await send_verifier(self._session, self._link)

    def _interrupted(self: HostAgent, *, own_link: bool) -> None:
        """The connection to the viewer is interrupted: hold streaming, tell the customer."""
        assert self._session is not None
        self._session.detach()
        self._link_up.clear()
        if self._interrupted_at is None:
            self._interrupted_at = time.monotonic()
            self._late_inputs_dropped = 0
            if self._evidence is not None and self._evidence.recording:
                who = "this side's" if own_link else "the viewer's"
                self._evidence.gap(f"{who} connection to the relay dropped; reconnecting")
            self._show_line("ev_connection_lost")
        self._notify(ui.Reconnecting(own_link=own_link))

    async def _start_reconnect(self: HostAgent) -> None:
        self.link_state = LinkState.RECONNECTING
        self._interrupted(own_link=True)
        await self._close_link()
        self._reconnect_task = self._tasks.create_task(self._reconnect())

    async def _reconnect(self: HostAgent) -> None:
        target = ReconnectTarget(self.settings.relay_url, "/v1/host", self.settings.fingerprint)
        try:
            link, answer = await reconnect(
                target,
                self._resume_message,
                give_up_after_seconds=self.settings.resume_give_up_seconds,
            )
        except FernwartungError as error:
            self._inbox.put_nowait(ReconnectFailed(error))
            return
        if self._kill_requested:
            await _say_ended(link)  # the customer ended while we were away
            return
        self._won_link = link
        self._inbox.put_nowait(Reconnected(link, answer))

    def _resume_message(self: HostAgent) -> control.Resume:
        assert self._session is not None and self._code is not None
        return control.Resume(
            session=self._code.session,
            epoch=self._session.epoch,
            secret=self._session.resume_secret(),
            version=PROTOCOL_VERSION,
        )

    async def _stop_reconnecting(self: HostAgent) -> None:
        """The kill switch or the end: no reconnect may go on after this."""
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        link, self._won_link = self._won_link, None
        if link is not None:
            await _say_ended(link)  # taken back just before the end: it only says so

    async def _on_reconnected(self: HostAgent, item: Reconnected) -> None:
        self._reconnect_task = None
        self._won_link = None
        self._link = item.link
        reader = self._tasks.create_task(self._read(item.link))
        self._readers.add(reader)
        reader.add_done_callback(self._readers.discard)
        if isinstance(item.answer, control.Resumed):
            await self._on_resumed(item.answer.epoch)
        else:
            self.link_state = LinkState.PEER_AWAY
            self._notify(ui.Reconnecting(own_link=False))

    def _on_peer_reconnecting(self: HostAgent) -> None:
        if self.state is not AgentState.SHARING or self._session is None:
            return
        self.link_state = LinkState.PEER_AWAY
        self._interrupted(own_link=False)

    async def _on_resumed(self: HostAgent, epoch: int) -> None:
        """Both sides are back: switch epochs, give the new verifier, then our state."""
        session, link = self._session, self._link
        if session is None or link is None:
            return
        self.link_state = LinkState.RESUMING
        async with self._send_lock:
            frame = session.switch_epoch(epoch)
            try:
                async with asyncio.timeout(RESUME_SEND_TIMEOUT_SECONDS):
                    # The verifier first: the relay forwards our frames only after it.
                    await self._send_verifier()
                    await link.send_binary(frame)
            except ConnectionLost as error:
                self._link_dropped(link, error)

    async def _resend(self: HostAgent, events: list[object]) -> None:
        """The viewer's resume state came: send what it missed, in order, under the lock
        (the caller holds it), then carry on as before the drop."""
        link = self._link
        assert link is not None
        try:
            async with asyncio.timeout(RESUME_SEND_TIMEOUT_SECONDS):
                for event in events[1:]:
                    assert isinstance(event, Send)
                    await link.send_binary(event.data)
        except ConnectionLost as error:
            self._link_dropped(link, error)

    async def _after_resume(self: HostAgent, resumed: Resumed) -> None:
        self.link_state = LinkState.UP
        seconds = time.monotonic() - (self._interrupted_at or time.monotonic())
        self._interrupted_at = None
        if self._evidence is not None and self._evidence.recording:
            self._evidence.gap(
                f"resumed after {seconds:.1f} s (channel epoch {resumed.epoch}); "
                f"{resumed.resent} messages sent again"
            )
        if self._consent_unreported:
            self._consent_unreported = False
            await self._report_consent()
        self.pipeline.request_full()
        self._stream_generation += 1
        self._link_up.set()
        self._acked.set()
        self._show_line("ev_reconnected")
        self._notify(ui.Reconnected())
        self._apply_consent()

    def _late_input(self: HostAgent, message: messages.Message, index: int) -> None:
        """An input sent before the drop and delivered after it: recorded, never injected."""
        if self._evidence is not None and self._evidence.recording and index >= 0:
            self._evidence.input_outcome(index, False, REASON_LATE_INPUT)
        self._late_inputs_dropped += 1
        if self._late_inputs_dropped == 1:
            self._show_line("ev_late_input_dropped")


async def _say_ended(link: RelayLink) -> None:
    """A link the relay gave back after the customer ended: it carries `end`, nothing else."""
    with contextlib.suppress(FernwartungError, TimeoutError, OSError):
        async with asyncio.timeout(RESUME_SEND_TIMEOUT_SECONDS):
            await link.send_control(control.End(reason="ended by the customer"))
            await link.close()


__all__ = ["GIVE_UP_AFTER_SECONDS", "LinkState", "ResumeMixin"]
