"""The relays a side knows, and following a redirect (endpoint/relays.py), with scripted
links instead of a relay: one redirect is followed, a second is a loop, a relay on TLS
cannot send a side to one without, and what a side is told never drops its TLS."""

from __future__ import annotations

import pytest

from endpoint.relays import RelayPlace, RelayRoute, ask_relay
from protocol import control
from protocol.errors import ProtocolError, RelayUnreachable

A, B, C = "wss://a.example:8765", "wss://b.example:8765", "wss://c.example:8765"
PIN_A, PIN_B = "aa" * 32, "bb" * 32


class ScriptedLink:
    def __init__(self, answer: control.Control) -> None:
        self.answer = answer
        self.sent: list[control.Control] = []
        self.closed = False

    async def send_control(self, message: control.Control) -> None:
        self.sent.append(message)

    async def receive(self) -> control.Control:
        return self.answer

    async def close(self, reason: str = "") -> None:
        self.closed = True


class ScriptedRelays:
    """`connect` for ask_relay: each URL answers as scripted (absent: unreachable)."""

    def __init__(self, answers: dict[str, control.Control]) -> None:
        self.answers = answers
        self.opened: list[tuple[str, str | None, str | None]] = []
        self.links: list[ScriptedLink] = []

    async def __call__(
        self, url: str, path: str, *, fingerprint_pin: str | None, token: str | None
    ) -> ScriptedLink:
        self.opened.append((url, fingerprint_pin, token))
        if url not in self.answers:
            raise RelayUnreachable(f"nothing at {url}")
        link = ScriptedLink(self.answers[url])
        self.links.append(link)
        return link


JOIN = control.Join(session="482139", version=1)


async def test_one_redirect_is_followed_with_the_pin_the_relay_gave() -> None:
    relays = ScriptedRelays({B: control.Redirect(A, PIN_A), A: control.Joined(technician="Tina")})
    route = RelayRoute(B, PIN_B)
    link, answer = await ask_relay(route, "/v1/viewer", lambda: JOIN, token="t", connect=relays)
    assert answer == control.Joined(technician="Tina") and link is relays.links[1]
    assert relays.opened == [(B, PIN_B, "t"), (A, PIN_A, "t")]
    assert relays.links[0].closed and relays.links[1].sent == [JOIN]
    assert route.current == RelayPlace(A, PIN_A)
    assert route.places() == [RelayPlace(A, PIN_A), RelayPlace(B, PIN_B)]


async def test_a_second_redirect_is_a_loop() -> None:
    relays = ScriptedRelays({B: control.Redirect(A, PIN_A), A: control.Redirect(B, PIN_B)})
    route = RelayRoute(B, PIN_B)
    with pytest.raises(ProtocolError, match="redirect loop"):
        await ask_relay(route, "/v1/viewer", lambda: JOIN, token="t", connect=relays)
    assert all(link.closed for link in relays.links)
    assert route.current == RelayPlace(B, PIN_B)


async def test_a_relay_on_tls_cannot_send_a_side_to_one_without() -> None:
    relays = ScriptedRelays({B: control.Redirect("ws://a.example:8765")})
    with pytest.raises(ProtocolError, match="without TLS"):
        await ask_relay(RelayRoute(B), "/v1/viewer", lambda: JOIN, token="t", connect=relays)
    assert relays.opened == [(B, None, "t")]  # the token went nowhere else


def test_the_others_a_relay_tells_replace_what_it_told_before() -> None:
    route = RelayRoute(A, PIN_A)
    route.learn([control.OtherRelay(B, PIN_B), control.OtherRelay(A, PIN_A),
                 control.OtherRelay("ws://plain.example:80"), control.OtherRelay(B, PIN_B)])  # fmt: skip
    assert route.places() == [RelayPlace(A, PIN_A), RelayPlace(B, PIN_B)]
    route.learn([control.OtherRelay(C)])
    assert route.places() == [RelayPlace(A, PIN_A), RelayPlace(C)]
    route.moved(RelayPlace(C))
    assert route.places() == [RelayPlace(C), RelayPlace(A, PIN_A)]


def test_a_side_on_a_plain_relay_takes_plain_and_tls_relays() -> None:
    route = RelayRoute("ws://127.0.0.1:8765")
    route.learn([control.OtherRelay("ws://127.0.0.1:8766"), control.OtherRelay(B)])
    assert [place.url for place in route.places()] == [
        "ws://127.0.0.1:8765",
        "ws://127.0.0.1:8766",
        B,
    ]
