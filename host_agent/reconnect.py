"""The host agent's side of resuming a session after a dropped connection.

`HostAgent` (host_agent/agent.py) holds one `HostResume`: the state of its link to the
viewer and the task that reconnects. The protocol decisions are in
`protocol.session.PeerSession` (detach, switch_epoch, resend), the shared steps in
`endpoint.resume` and `endpoint.reconnect`.

    UP --own link lost--> RECONNECTING --relay took us back--> PEER_AWAY or RESUMING
    UP --relay: peer_reconnecting--> PEER_AWAY --relay: resumed--> RESUMING
    RESUMING --the viewer's resume state--> UP (what it missed sent again, a full frame)

While not UP nothing is captured or put on the wire (`link_up` is clear); messages the
agent sends meanwhile (a consent change, say) are recorded and kept by the PeerSession
and go out after the resume. The customer's kill switch wins: once the session ended
nothing reconnects (`stop` cancels the task; a link it won anyway only carries `end`).
Inputs the viewer sent before the drop that arrive after it are recorded and dropped,
never injected late.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable

from endpoint.evidence import SessionEvidence
from endpoint.reconnect import (
    GIVE_UP_AFTER_SECONDS,
    RESUME_SEND_TIMEOUT_SECONDS,
    ReconnectTarget,
    reconnect,
)
from endpoint.relay_link import RelayLink
from endpoint.resume import Interruption, resume_request, send_again, switch_epoch
from host_agent import events as ui
from host_agent.inbox import Reconnected, ReconnectFailed
from protocol import control
from protocol.errors import ConnectionLost, FernwartungError
from protocol.session import Event as SessionEvent
from protocol.session import PeerSession, Resumed

REASON_LATE_INPUT = "dropped: sent before the connection dropped, delivered after it"


class LinkState(enum.Enum):
    UP = "up"
    PEER_AWAY = "the technician is reconnecting"
    RECONNECTING = "reconnecting"
    RESUMING = "resuming"


LinkDropped = Callable[[RelayLink, FernwartungError], None]


class HostResume:
    """The agent's link state and its way back after a drop.

    `post` puts an item into the agent's inbox (`Reconnected`, `ReconnectFailed`);
    `notify` and `show_line` reach the customer's UI.
    """

    def __init__(
        self,
        target: ReconnectTarget,
        evidence: SessionEvidence | None,
        *,
        post: Callable[[object], None],
        notify: Callable[[ui.UiEvent], None],
        show_line: Callable[[str], None],
        give_up_after_seconds: float = GIVE_UP_AFTER_SECONDS,
    ) -> None:
        self.state = LinkState.UP
        # Set while frames may go on the wire: the streamer waits for it.
        self.link_up = asyncio.Event()
        self.link_up.set()
        # A consent change made while the link was down, told to the relay after the resume.
        self.consent_unreported = False
        self._target = target
        self._evidence = evidence
        self._post = post
        self._notify = notify
        self._show_line = show_line
        self._give_up_after_seconds = give_up_after_seconds
        self._interruption = Interruption(evidence, "the viewer's")
        self._task: asyncio.Task[None] | None = None
        self._won_link: RelayLink | None = None  # taken back, not yet in use by the agent
        self._late_inputs_dropped = 0

    @property
    def reconnecting(self) -> bool:
        return self.state is LinkState.RECONNECTING

    def interrupted(self, session: PeerSession, *, own_link: bool) -> None:
        """The connection to the viewer is interrupted: hold streaming, tell the customer."""
        session.detach()
        self.link_up.clear()
        if self._interruption.begin(own_link=own_link):
            self._late_inputs_dropped = 0
            self._show_line("ev_connection_lost")
        self._notify(ui.Reconnecting(own_link=own_link))

    def start(
        self,
        session: PeerSession,
        session_number: str,
        tasks: asyncio.TaskGroup,
        kill_requested: Callable[[], bool],
    ) -> None:
        """Our own link dropped (the caller closed it): reconnect in a task of `tasks`."""
        self.state = LinkState.RECONNECTING
        self.interrupted(session, own_link=True)
        self._task = tasks.create_task(self._reconnect(session, session_number, kill_requested))

    async def _reconnect(
        self, session: PeerSession, session_number: str, kill_requested: Callable[[], bool]
    ) -> None:
        try:
            link, answer = await reconnect(
                self._target,
                lambda: resume_request(session, session_number),
                give_up_after_seconds=self._give_up_after_seconds,
            )
        except FernwartungError as error:
            self._post(ReconnectFailed(error))
            return
        if kill_requested():
            await _say_ended(link)  # the customer ended while we were away
            return
        self._won_link = link
        self._post(Reconnected(link, answer))

    async def stop(self) -> None:
        """The kill switch or the end: no reconnect may go on after this."""
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        link, self._won_link = self._won_link, None
        if link is not None:
            await _say_ended(link)  # taken back just before the end: it only says so

    def failed(self) -> None:
        """The reconnect task gave up (the agent ends the session)."""
        self._task = None

    def reconnected(self, answer: control.Resumed | control.PeerReconnecting) -> bool:
        """The agent took the link back into use; True when both sides are back (switch
        epochs now), False when the viewer is still away."""
        self._task = None
        self._won_link = None
        if isinstance(answer, control.Resumed):
            return True
        self.state = LinkState.PEER_AWAY
        self._notify(ui.Reconnecting(own_link=False))
        return False

    def peer_reconnecting(self, session: PeerSession) -> None:
        """The relay says the viewer's link dropped."""
        self.state = LinkState.PEER_AWAY
        self.interrupted(session, own_link=False)

    async def resumed(
        self, session: PeerSession, link: RelayLink, epoch: int, dropped: LinkDropped
    ) -> None:
        """Both sides are back: switch epochs, give the new verifier, then our state.
        The caller holds its send lock."""
        self.state = LinkState.RESUMING
        try:
            await switch_epoch(session, link, epoch)
        except ConnectionLost as error:
            dropped(link, error)

    async def send_again(
        self, link: RelayLink, events: list[SessionEvent], dropped: LinkDropped
    ) -> Resumed:
        """The viewer's resume state came: what it missed, in order (the caller holds its
        send lock)."""
        resumed = events[0]
        assert isinstance(resumed, Resumed)
        try:
            await send_again(link, events)
        except ConnectionLost as error:
            dropped(link, error)
        return resumed

    def finished(self, resumed: Resumed) -> None:
        """The session is whole again (the agent restarts the stream, then calls `up`)."""
        self.state = LinkState.UP
        self._interruption.end(resumed)

    def up(self) -> None:
        """Frames may go on the wire again; the customer is told."""
        self.link_up.set()
        self._show_line("ev_reconnected")
        self._notify(ui.Reconnected())

    def late_input(self, index: int) -> None:
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


__all__ = ["GIVE_UP_AFTER_SECONDS", "HostResume", "LinkState"]
