"""Coming back to the relay after the connection dropped, shared by host agent and viewer.

`reconnect` opens a new connection with back-off and sends `resume` with the session's
one-time secret (protocol/resume.py) until the relay takes it back or refuses, or the
time is up. The relay answers `resumed` (both sides are back: switch epochs) or
`peer_reconnecting` (the other side is still away: wait for `resumed` on this link).

Several relays (endpoint/relays.py): each round of attempts tries the relay the side was
on, then the operator's others it was told of, and follows a relay's redirect to the one
that holds the session; the back-off is between rounds.

    link, answer = await reconnect(target, make_resume, give_up_after_seconds=90.0)

The secret is drawn right before each attempt and never logged; a refused one is not
tried again (the relay forgets a verifier once its secret was used).
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from endpoint.relay_link import RelayLink, open_link
from endpoint.relays import RelayRoute, ask_relay, close_quietly
from protocol import control
from protocol.errors import (
    CertificateMismatch,
    NotAuthorised,
    ProtocolError,
    RelayUnreachable,
    ResumeRefused,
    SessionEnded,
)
from protocol.session import PeerSession

# The first retry comes quickly (a blip), later ones back off to spare a restarting relay.
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
BACKOFF_JITTER = 0.2  # +-20 %, so many sessions do not come back in lockstep
ANSWER_TIMEOUT_SECONDS = 10.0
# The relay keeps a slot for 60 s (relay/limits.py RESUME_GRACE_SECONDS); the side tries a
# little longer, since only the relay's answer says for sure that it is over.
GIVE_UP_AFTER_SECONDS = 75.0
# With other relays to try, a relay that refuses is not tried again in the same round: the
# next one may hold the session (the round itself is repeated after its back-off).
RETRY_WITH_OTHERS_SECONDS = 0.0
RESUME_SEND_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class ReconnectTarget:
    """Where and as whom to reconnect."""

    relay_url: str
    path: str  # /v1/host or /v1/viewer
    fingerprint: str | None = None
    token: str | None = field(default=None, repr=False)
    # The relays the side knows (kept up to date by its owner); None: just `relay_url`.
    route: RelayRoute | None = None

    def relays(self) -> RelayRoute:
        return self.route or RelayRoute(self.relay_url, self.fingerprint)


Connect = Callable[..., Awaitable[RelayLink]]


def backoff_delays(
    first: float = BACKOFF_FIRST_SECONDS, maximum: float = BACKOFF_MAX_SECONDS
) -> list[float]:
    """The waits between attempts (0.5, 1, 2, 4, 8, 8, ... s), before jitter."""
    delays, delay = [], first
    while delay < maximum:
        delays.append(delay)
        delay *= 2
    return [*delays, maximum]


async def reconnect(
    target: ReconnectTarget,
    make_resume: Callable[[], control.Resume],
    *,
    give_up_after_seconds: float = GIVE_UP_AFTER_SECONDS,
    connect: Connect = open_link,
) -> tuple[RelayLink, control.Resumed | control.PeerReconnecting]:
    """A new link that the relay accepted for the session, and its first answer.

    Raises ResumeRefused (the relay will not give the slot back), NotAuthorised (a revoked
    technician), CertificateMismatch, or RelayUnreachable when the time is up.
    """
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + give_up_after_seconds
    delays = backoff_delays()
    route = target.relays()
    attempt = 0
    while True:
        try:
            async with asyncio.timeout_at(give_up_at):
                return await _round(target, route, make_resume, connect)
        except TimeoutError:
            break
        except (RelayUnreachable, SessionEnded) as error:
            if isinstance(error, ResumeRefused):
                raise
            # Not there yet (restarting) or dropped again: try again after a while.
        delay = delays[min(attempt, len(delays) - 1)]
        attempt += 1
        delay *= 1.0 + random.uniform(-BACKOFF_JITTER, BACKOFF_JITTER)
        if loop.time() + delay >= give_up_at:
            break
        await asyncio.sleep(delay)  # back-off between attempts, not a wait for an event
    raise RelayUnreachable("the connection to the relay could not be restored in time")


async def _round(
    target: ReconnectTarget,
    route: RelayRoute,
    make_resume: Callable[[], control.Resume],
    connect: Connect,
) -> tuple[RelayLink, control.Resumed | control.PeerReconnecting]:
    """One attempt at every relay the side knows, in turn; the last one's error."""
    places = route.places()
    if connect is open_link and len(places) > 1:
        # A relay that refuses may be dead for good while another holds the session now:
        # the link does not retry a refused connection then.
        connect = functools.partial(open_link, retry_for_seconds=RETRY_WITH_OTHERS_SECONDS)
    for index, place in enumerate(places):
        try:
            link, answer = await ask_relay(
                route, target.path, make_resume, place=place, token=target.token,
                connect=connect, answer_timeout_seconds=ANSWER_TIMEOUT_SECONDS,
            )  # fmt: skip
        except (RelayUnreachable, SessionEnded, CertificateMismatch) as error:
            if isinstance(error, ResumeRefused) or index == len(places) - 1:
                raise
            continue  # that relay cannot help: the next one may
        if not isinstance(answer, control.Resumed | control.PeerReconnecting):
            await close_quietly(link)
            raise ProtocolError("the relay did not answer the resume")
        if isinstance(answer, control.Resumed):
            route.learn(answer.relays)
        return link, answer
    raise RelayUnreachable("no relay is known")  # (a route always has its current relay)


__all__ = [
    "CertificateMismatch",
    "NotAuthorised",
    "ReconnectTarget",
    "backoff_delays",
    "reconnect",
]


async def send_verifier(session: PeerSession | None, link: RelayLink | None) -> None:
    """Give the relay the hash of this epoch's resume secret (never the secret)."""
    if session is None or link is None:
        return
    message = control.ResumeVerifier(epoch=session.epoch, verifier=session.resume_verifier())
    async with asyncio.timeout(RESUME_SEND_TIMEOUT_SECONDS):
        await link.send_control(message)
