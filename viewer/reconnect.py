"""The viewer's side of resuming a session after a dropped connection.

`ViewerClient` (viewer/client.py) mixes this in; the protocol decisions are in
`protocol.session.PeerSession` (detach, switch_epoch, resend) and `endpoint.reconnect`.

    ACTIVE/PAUSED --own link lost--> RECONNECTING --relay took us back--> (resumed)
    ACTIVE/PAUSED --relay: peer_reconnecting--> RECONNECTING --relay: resumed-->
    switch epoch, verifier, our resume state --the host's resume state--> ACTIVE/PAUSED

While RECONNECTING no input is sent (the technician sees "reconnecting"); acks and chat
are recorded and kept by the PeerSession and go out after the resume. Ending during a
reconnect stops it: nothing resumes after the technician or the customer ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from endpoint.reconnect import (
    RESUME_SEND_TIMEOUT_SECONDS,
    ReconnectTarget,
    reconnect,
    send_verifier,
)
from protocol import PROTOCOL_VERSION, control
from protocol.errors import ConnectionLost, FernwartungError, ResumeRefused, SessionEnded
from protocol.session import Resumed, Send, SessionState

if TYPE_CHECKING:
    from viewer.client import ViewerClient


class ResumeMixin:
    """Resume handling for `ViewerClient`; it relies on the client's session and link."""

    def _init_resume(self: ViewerClient) -> None:
        from viewer.client import Phase

        self._phase_before_drop = Phase.ACTIVE
        self._interrupted_at: float | None = None
        self._ending = asyncio.Event()

    def _may_resume(self: ViewerClient) -> bool:
        from viewer.client import Phase

        session = self._session
        return (
            self.status.phase in (Phase.ACTIVE, Phase.PAUSED, Phase.RECONNECTING)
            and session is not None
            and session.keys is not None
            and not self._ending.is_set()
        )

    async def _send_verifier(self: ViewerClient) -> None:
        await send_verifier(self._session, self._link)

    def _interrupted(self: ViewerClient, *, own_link: bool) -> None:
        from viewer.client import Phase

        assert self._session is not None
        self._session.detach()
        if self.status.phase is not Phase.RECONNECTING:
            self._phase_before_drop = self.status.phase
            self._set_status(phase=Phase.RECONNECTING)
        if self._interrupted_at is None:
            self._interrupted_at = time.monotonic()
            if self._recording_now():
                assert self.evidence is not None
                who = "this side's" if own_link else "the host's"
                self.evidence.gap(f"{who} connection to the relay dropped; reconnecting")

    async def _reconnect(self: ViewerClient) -> None:
        """Our link dropped: get a new one (or raise why not), then go on resuming."""
        self._interrupted(own_link=True)
        await self._close_link()
        self._link = None
        target = ReconnectTarget(
            self.settings.relay_url, "/v1/viewer", self.settings.fingerprint, self.settings.token
        )
        attempt = asyncio.ensure_future(
            reconnect(
                target,
                self._resume_message,
                give_up_after_seconds=self.settings.resume_give_up_seconds,
                connect=self._connect,
            )
        )
        ending = asyncio.ensure_future(self._wait_for_end())
        try:
            await asyncio.wait([attempt, ending], return_when=asyncio.FIRST_COMPLETED)
        finally:
            ending.cancel()
            if not attempt.done():
                attempt.cancel()
                with contextlib.suppress(asyncio.CancelledError, FernwartungError):
                    await attempt
        if not attempt.done() or attempt.cancelled():
            raise SessionEnded(self._end_reason or self._requested_reason)
        try:
            link, answer = attempt.result()  # raises why it could not reconnect
        except ResumeRefused as refused:
            raise SessionEnded(
                f"the session ended while the connection was interrupted ({refused.reason})"
            ) from None
        self._link = link
        if self._ending.is_set():
            raise SessionEnded(self._end_reason)
        if isinstance(answer, control.Resumed):
            await self._on_resumed(answer.epoch)

    async def _wait_for_end(self: ViewerClient) -> None:
        ended = asyncio.ensure_future(self._ending.wait())
        asked = asyncio.ensure_future(self._end_requested.wait())
        try:
            await asyncio.wait([ended, asked], return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            asked.cancel()
        if not self._end_reason:
            self._end_reason = self._requested_reason or "the technician ended the session"

    def _resume_message(self: ViewerClient) -> control.Resume:
        assert self._session is not None
        return control.Resume(
            session=self.settings.code.session,
            epoch=self._session.epoch,
            secret=self._session.resume_secret(),
            version=PROTOCOL_VERSION,
        )

    async def _on_resumed(self: ViewerClient, epoch: int) -> None:
        """Both sides are back: switch epochs, give the new verifier, then our state."""
        session, link = self._session, self._link
        if session is None or link is None:
            return
        async with self._send_lock:
            frame = session.switch_epoch(epoch)
            with contextlib.suppress(ConnectionLost):  # the reader sees the drop too
                async with asyncio.timeout(RESUME_SEND_TIMEOUT_SECONDS):
                    # The verifier first: the relay forwards our frames only after it.
                    await self._send_verifier()
                    await link.send_binary(frame)

    async def _peer_state(self: ViewerClient, frame: bytes) -> None:
        """The host's resume state: send what it missed, in order, then carry on."""
        session, link = self._session, self._link
        assert session is not None and session.state is SessionState.RESUMING
        async with self._send_lock:
            events = session.receive(frame)
            if link is not None:
                with contextlib.suppress(ConnectionLost):
                    async with asyncio.timeout(RESUME_SEND_TIMEOUT_SECONDS):
                        for event in events[1:]:
                            assert isinstance(event, Send)
                            await link.send_binary(event.data)
        resumed = events[0]
        assert isinstance(resumed, Resumed)
        seconds = time.monotonic() - (self._interrupted_at or time.monotonic())
        self._interrupted_at = None
        if self._recording_now():
            assert self.evidence is not None
            self.evidence.gap(
                f"resumed after {seconds:.1f} s (channel epoch {resumed.epoch}); "
                f"{resumed.resent} messages sent again"
            )
        self._set_status(phase=self._phase_before_drop)


__all__ = ["ResumeMixin"]
