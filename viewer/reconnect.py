"""The viewer's side of resuming a session after a dropped connection.

`ViewerClient` (viewer/client.py) holds one `ViewerResume`; the protocol decisions are in
`protocol.session.PeerSession` (detach, switch_epoch, resend), the shared steps in
`endpoint.resume` and `endpoint.reconnect`.

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
from collections.abc import Awaitable, Callable

from endpoint.evidence import SessionEvidence
from endpoint.reconnect import GIVE_UP_AFTER_SECONDS, Connect, ReconnectTarget, reconnect
from endpoint.relay_link import RelayLink
from endpoint.resume import Interruption, resume_request, send_again, switch_epoch
from protocol import control
from protocol.errors import ConnectionLost, FernwartungError, ResumeRefused, SessionEnded
from protocol.session import PeerSession, Resumed, SessionState


class ViewerResume:
    """The viewer's way back after a drop: reconnecting, and switching epochs."""

    def __init__(
        self,
        target: ReconnectTarget,
        evidence: SessionEvidence | None,
        connect: Connect,
        *,
        give_up_after_seconds: float = GIVE_UP_AFTER_SECONDS,
    ) -> None:
        self._target = target
        self._connect = connect
        self._give_up_after_seconds = give_up_after_seconds
        self.interruption = Interruption(evidence, "the host's")

    async def reconnect(
        self,
        session: PeerSession,
        session_number: str,
        ended: Callable[[], Awaitable[str]],
    ) -> tuple[RelayLink, control.Resumed | control.PeerReconnecting]:
        """A new link the relay took back, and its first answer; unless the session
        ends first (`ended` returns, with the reason): then SessionEnded.

        Raises SessionEnded when the relay refuses the resume (the session ended while
        the connection was interrupted), and why it could not reconnect otherwise.
        """
        attempt = asyncio.ensure_future(
            reconnect(
                self._target,
                lambda: resume_request(session, session_number),
                give_up_after_seconds=self._give_up_after_seconds,
                connect=self._connect,
            )
        )
        ending = asyncio.ensure_future(ended())
        try:
            await asyncio.wait([attempt, ending], return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not attempt.done():
                attempt.cancel()
                with contextlib.suppress(asyncio.CancelledError, FernwartungError):
                    await attempt
            if not ending.done():
                ending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ending
        if attempt.cancelled():
            raise SessionEnded(ending.result())
        try:
            return attempt.result()  # raises why it could not reconnect
        except ResumeRefused as refused:
            raise SessionEnded(
                f"the session ended while the connection was interrupted ({refused.reason})"
            ) from None

    async def resumed(self, session: PeerSession, link: RelayLink, epoch: int) -> None:
        """Both sides are back: switch epochs, give the new verifier, then our state.
        The caller holds its send lock; a drop meanwhile is the reader's to notice."""
        with contextlib.suppress(ConnectionLost):
            await switch_epoch(session, link, epoch)

    async def peer_state(
        self, session: PeerSession, link: RelayLink | None, frame: bytes
    ) -> Resumed:
        """The host's resume state: send what it missed, in order (the caller holds its
        send lock); the session then carries on."""
        assert session.state is SessionState.RESUMING
        events = session.receive(frame)
        resumed = events[0]
        assert isinstance(resumed, Resumed)
        if link is not None:
            with contextlib.suppress(ConnectionLost):  # the reader sees the drop too
                await send_again(link, events)
        self.interruption.end(resumed)
        return resumed


__all__ = ["ViewerResume"]
