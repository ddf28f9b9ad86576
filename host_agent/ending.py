"""How a host agent's session ends: stop input and capture, say goodbye, close the
recording, report its final heads to the relay, close the link. `HostAgent`
(host_agent/agent.py) mixes this in.

The end of a recorded session exchanges final checkpoints (endpoint/evidence.py); after the
recording failed nothing more is sent; a session whose link is down (reconnecting) ends
without a goodbye the peer could not get anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from endpoint.evidence import END_EXCHANGE_TIMEOUT_SECONDS
from host_agent import events as ui
from host_agent.inbox import EXIT_ERROR, AgentState, Frame, LinkLost, Stop
from host_agent.texts import Texts
from protocol import control, messages
from protocol.errors import FernwartungError, RecordingFailed
from protocol.session import Received, SessionState

if TYPE_CHECKING:
    from host_agent.agent import HostAgent

BYE_TIMEOUT_SECONDS = 2.0


class EndingMixin:
    """The end of `HostAgent`'s session."""

    async def _end(
        self: HostAgent, reason_key: str, status: int, *, peer_ended: bool = False, **values: object
    ) -> None:
        """End the session: stop input and capture, say goodbye, close recording and link.

        `peer_ended`: the viewer said Bye first. The goodbye is skipped after the recording
        failed: nothing may be sent that the recording does not hold.
        """
        if self.state is AgentState.ENDED:
            raise Stop
        if self.gate is not None:
            self.gate.end()
        self.consent.end()
        self._sharing.clear()
        await self._stop_reconnecting()
        previous, self.state = self.state, AgentState.ENDED
        self.exit_status = status
        reason = self.texts(reason_key, **values)
        english = Texts("en")(reason_key, **values)[: messages.MAX_REASON_CHARS]
        self._show(self.activity.flush(time.monotonic(), force=True))
        self._notify(ui.Ended(reason))
        link = self._link
        recording_ok = self._evidence is None or self._evidence.failure is None
        link_usable = link is not None
        if link is not None:
            try:
                session_open = self._session is not None and (
                    self._session.state is SessionState.OPEN
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
                try:
                    async with asyncio.timeout(BYE_TIMEOUT_SECONDS):
                        if report is not None:
                            await link.send_control(report)
                        await link.send_control(control.End(reason=english))
                except (FernwartungError, TimeoutError, OSError):
                    pass  # the link is gone already: closing below is all that is left
            await self._close_link()
        raise Stop

    async def _say_goodbye(self: HostAgent, reason: str, peer_ended: bool) -> None:
        """Final checkpoint and Bye; when both record, read on until the exchange is done."""
        evidence = self._evidence
        exchange = evidence is not None and evidence.recording and self._peer_records
        async with asyncio.timeout(BYE_TIMEOUT_SECONDS):
            if evidence is not None and not evidence.final_checkpoint_sent:
                await self._checkpoint(final=True)
            await self._send(messages.Bye(reason))
        if exchange:
            # The viewer answers our Bye with its final checkpoint and Bye; after its own
            # Bye it waits for the relay's End. Either way its checkpoint lands in our file.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(END_EXCHANGE_TIMEOUT_SECONDS):
                    await self._read_until_done(wait_for_bye=not peer_ended)

    async def _read_until_done(self: HostAgent, *, wait_for_bye: bool) -> None:
        """While ending: record what still arrives until the viewer's Bye or the relay's End."""
        while True:
            item = await self._inbox.get()
            if isinstance(item, LinkLost) and item.link is self._link:
                return
            if not isinstance(item, Frame) or item.link is not self._link:
                continue
            if isinstance(item.frame, control.End | control.PeerLeft):
                return
            if not isinstance(item.frame, bytes) or self._session is None:
                continue
            for event in self._session.receive(item.frame):
                if not isinstance(event, Received):
                    continue
                index = self._note_received(event)
                message = event.message
                if isinstance(message, messages.INPUT_TYPES) and self.gate is not None:
                    verdict = self.gate.submit(message, time.monotonic())
                    if self._inputs is not None and index >= 0:
                        self._inputs.submitted(index, message, verdict)
                elif isinstance(message, messages.Bye) and wait_for_bye:
                    return

    async def _recording_lost(self: HostAgent, detail: str) -> None:
        """Writing the recording failed: end at once, send nothing more, tell the customer."""
        self._show_line("ev_recording_failed", detail=detail)
        await self._end("reason_recording_failed", EXIT_ERROR)

    async def _close_recording(self: HostAgent, reason: str) -> control.Checkpoint | None:
        """Write the END record; the final report for the relay (None: nothing to report)."""
        evidence = self._evidence
        if evidence is None:
            return None
        try:
            if evidence.failure is None and evidence.recording:
                if self.gate is not None:
                    # Inputs the injector still had are settled before the last records.
                    await asyncio.to_thread(self.gate.join, BYE_TIMEOUT_SECONDS)
                if self._inputs is not None:
                    self._inputs.finish()
                return await asyncio.to_thread(evidence.close, reason)
        except RecordingFailed as error:
            self._show_line("ev_recording_failed", detail=str(error))
        finally:
            evidence.abandon()
        return None
