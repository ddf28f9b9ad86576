"""The steps of resuming a session that both endpoints take the same way
(docs/session-contract.md, "Resuming after a dropped connection").

The protocol decisions are `protocol.session.PeerSession`'s (detach, switch_epoch,
resend); the way back to the relay is `endpoint.reconnect`. What is here: the resume
request a side sends, the switch to the new epoch with the verifier before the side's
resume state, sending again what the peer missed, and the interruption as the
recording notes it (two GAP records).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from endpoint.evidence import SessionEvidence
from endpoint.reconnect import RESUME_SEND_TIMEOUT_SECONDS, send_verifier
from endpoint.relay_link import RelayLink
from protocol import PROTOCOL_VERSION, control
from protocol.resume import resumed_gap_reason
from protocol.session import Event as SessionEvent
from protocol.session import PeerSession, Resumed, Send


def resume_request(session: PeerSession, session_number: str) -> control.Resume:
    """The `resume` a side sends on its new link; its secret is drawn now, used once."""
    return control.Resume(
        session=session_number,
        epoch=session.epoch,
        secret=session.resume_secret(),
        version=PROTOCOL_VERSION,
    )


async def switch_epoch(session: PeerSession, link: RelayLink, epoch: int) -> None:
    """Both sides are back: the new epoch's verifier to the relay first (it forwards this
    side's frames only after it), then this side's resume state as the first frame.

    The caller holds its send lock. Raises ConnectionLost when the link drops meanwhile.
    """
    frame = session.switch_epoch(epoch)
    async with asyncio.timeout(RESUME_SEND_TIMEOUT_SECONDS):
        await send_verifier(session, link)
        await link.send_binary(frame)


async def send_again(link: RelayLink, events: Sequence[SessionEvent]) -> Resumed:
    """The peer's resume state came (`events` from `session.receive`): send what it
    missed, in the original order. The caller holds its send lock. Raises ConnectionLost."""
    resumed = events[0]
    assert isinstance(resumed, Resumed)
    async with asyncio.timeout(RESUME_SEND_TIMEOUT_SECONDS):
        for event in events[1:]:
            assert isinstance(event, Send)
            await link.send_binary(event.data)
    return resumed


class Interruption:
    """How long a side's connection to its peer is interrupted, as the recording notes it."""

    def __init__(
        self,
        evidence: SessionEvidence | None,
        peer: str,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`peer`: who the other side is, in the recording's words ("the host's")."""
        self._evidence = evidence
        self._peer = peer
        self._monotonic = monotonic
        self._since: float | None = None

    @property
    def active(self) -> bool:
        return self._since is not None

    def begin(self, *, own_link: bool) -> bool:
        """The link dropped; True when this starts the interruption (not a second drop)."""
        if self._since is not None:
            return False
        self._since = self._monotonic()
        who = "this side's" if own_link else self._peer
        self._note(f"{who} connection to the relay dropped; reconnecting")
        return True

    def end(self, resumed: Resumed) -> float:
        """The session resumed; how many seconds it was interrupted."""
        now = self._monotonic()
        seconds = now - (self._since if self._since is not None else now)
        self._since = None
        self._note(resumed_gap_reason(seconds, resumed.epoch, resumed.resent))
        return seconds

    def _note(self, reason: str) -> None:
        if self._evidence is not None and self._evidence.recording:
            self._evidence.gap(reason)
