"""The relays a side can reach its session through, and following a relay's redirect;
the same for the host agent and the viewer.

An operator may run several relays on one database (docs/session-contract.md, "Several
relays"). A side starts at the relay it was given (`--relay URL`, with `--fingerprint`
when that relay's certificate is self-signed). That relay tells it the operator's other
live relays, each with its own certificate pin, in `registered`, `joined` and `resumed`;
the side keeps them in its `RelayRoute`. When its connection drops, it tries the relay it
was on first, then the others (endpoint/reconnect.py): any of them takes the session over
when its relay is gone, or sends the side to the relay that holds it.

A relay that does not hold a session answers a join or a resume with `redirect` (the URL
and pin of the relay that does). The side follows one redirect per request: it closes the
link and asks the same there. A second redirect is an error (a loop). Pins and other
relays only ever come from a relay the side already trusts (its pin, or the system's
trust store), and a relay on TLS cannot send a side to one without: the technician's
token never travels in the clear because of a redirect.

    route = RelayRoute(url, fingerprint)
    link, joined = await ask_relay(route, "/v1/viewer", lambda: control.Join(...), token=t)
    route.learn(joined.relays)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from endpoint.relay_link import RelayLink, open_link
from protocol import control
from protocol.errors import ProtocolError, RelayUnreachable, SessionEnded

ANSWER_TIMEOUT_SECONDS = 10.0
CLOSE_TIMEOUT_SECONDS = 1.0

Connect = Callable[..., Awaitable[RelayLink]]


@dataclass(frozen=True, slots=True)
class RelayPlace:
    """One relay as a side reaches it: its URL and the pin of its certificate (None: the
    system's trust store decides)."""

    url: str
    fingerprint: str | None = None

    @classmethod
    def told(cls, relay: control.OtherRelay) -> RelayPlace:
        return cls(relay.url, relay.fingerprint or None)

    @property
    def secure(self) -> bool:
        return self.url.startswith("wss://")


class RelayRoute:
    """The relay a side is on (`current`) and the operator's others it was told of."""

    def __init__(self, url: str, fingerprint: str | None = None) -> None:
        self.current = RelayPlace(url, fingerprint)
        self._others: list[RelayPlace] = []

    def places(self) -> list[RelayPlace]:
        """Where to try, in order: the relay the side is on, then the others."""
        return [self.current, *self._others]

    def learn(self, relays: Sequence[control.OtherRelay]) -> None:
        """The other live relays, as the current relay told them (replacing what it told
        before). A relay without TLS is not taken from one with TLS."""
        others: list[RelayPlace] = []
        for relay in relays:
            place = RelayPlace.told(relay)
            if self._acceptable(place) and place.url != self.current.url and place not in others:
                others.append(place)
        self._others = others

    def moved(self, place: RelayPlace) -> None:
        """The side's session is on `place` now (after a redirect or a takeover)."""
        if place == self.current:
            return
        previous = self.current
        self.current = place
        self._others = [p for p in self._others if p.url != place.url]
        if previous.url != place.url:
            self._others.insert(0, previous)

    def _acceptable(self, place: RelayPlace) -> bool:
        return place.secure or not self.current.secure

    def redirected_to(self, redirect: control.Redirect, came_from: RelayPlace) -> RelayPlace:
        """Where a redirect sends the side; ProtocolError for a downgrade from TLS."""
        place = RelayPlace(redirect.url, redirect.fingerprint or None)
        if came_from.secure and not place.secure:
            raise ProtocolError("the relay sent the session to a relay without TLS")
        return place


async def ask_relay(
    route: RelayRoute,
    path: str,
    request: Callable[[], control.Control],
    *,
    place: RelayPlace | None = None,
    token: str | None = None,
    connect: Connect = open_link,
    answer_timeout_seconds: float = ANSWER_TIMEOUT_SECONDS,
) -> tuple[RelayLink, control.Control | bytes]:
    """Open a link to `place` (the route's current relay by default), send `request()`,
    and return the link with the relay's first answer, following one redirect; the route
    then names the relay that answered. Raises what `open_link` and `RelayLink.receive`
    raise, and ProtocolError for a redirect loop."""
    place = place or route.current
    link, answer = await _ask(place, path, request, token, connect, answer_timeout_seconds)
    if isinstance(answer, control.Redirect):
        return await follow_redirect(
            route, link, answer, path, request, token=token, connect=connect,
            answer_timeout_seconds=answer_timeout_seconds, came_from=place,
        )  # fmt: skip
    route.moved(place)
    return link, answer


async def follow_redirect(
    route: RelayRoute,
    link: RelayLink,
    redirect: control.Redirect,
    path: str,
    request: Callable[[], control.Control],
    *,
    token: str | None = None,
    connect: Connect = open_link,
    answer_timeout_seconds: float = ANSWER_TIMEOUT_SECONDS,
    came_from: RelayPlace | None = None,
) -> tuple[RelayLink, control.Control | bytes]:
    """`link`'s relay answered `request()` with `redirect`: close it, ask the same at the
    relay it names and return that link and answer (ProtocolError for another redirect)."""
    await close_quietly(link)
    place = route.redirected_to(redirect, came_from or route.current)
    link, answer = await _ask(place, path, request, token, connect, answer_timeout_seconds)
    if isinstance(answer, control.Redirect):
        await close_quietly(link)
        raise ProtocolError("the relays sent the session back and forth (a redirect loop)")
    route.moved(place)
    return link, answer


async def _ask(
    place: RelayPlace,
    path: str,
    request: Callable[[], control.Control],
    token: str | None,
    connect: Connect,
    answer_timeout_seconds: float,
) -> tuple[RelayLink, control.Control | bytes]:
    link = await connect(place.url, path, fingerprint_pin=place.fingerprint, token=token)
    try:
        await link.send_control(request())
        try:
            async with asyncio.timeout(answer_timeout_seconds):
                answer = await link.receive()
        except TimeoutError:
            raise RelayUnreachable("the relay did not answer in time") from None
    except BaseException:
        await close_quietly(link)
        raise
    return link, answer


async def close_quietly(link: RelayLink) -> None:
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await link.close()
    except (TimeoutError, OSError, SessionEnded):
        pass
