"""What the relay learns from message lengths (issue 20, point 16): with padding agreed in
Hello, every key the technician presses looks the same on the relay, and small updates
come in a few sizes; an older peer (no padding in its Hello) gets and sends unpadded
messages and the session works as before. The tap is on the real relay's forwarding."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

import pytest

from protocol import messages
from protocol.channel import TAG_BYTES
from protocol.padding import INPUT_BYTES, PADDING_CAPABILITY, UPDATE_CLASSES, pad, padding_of
from relay.pairing import Side
from tests.support.relay import running_relay
from tests.support.resume_sessions import live_session
from viewer import client as viewer_client

KEYS = ("a", "Return", "BackSpace")
WAIT_SECONDS = 10.0


def test_every_input_has_one_length_and_small_updates_a_few_sizes() -> None:
    lengths = {len(pad(messages.Key(key, True), messages.encode(messages.Key(key, True))))
               for key in KEYS}  # fmt: skip
    assert lengths == {INPUT_BYTES}
    unpadded = {len(messages.encode(messages.Key(key, True))) for key in KEYS}
    assert len(unpadded) == 3  # what the relay could tell apart before
    for tiles in (1, 3, 9):
        update = messages.FrameUpdate(
            7, 1.0, 1920, 1080,
            tuple(messages.Tile(10 * i, 0, 8, 16, messages.Codec.FILL, b"\0\0\0")
                  for i in range(tiles)),
        )  # fmt: skip
        plaintext = pad(update, messages.encode(update))
        assert len(plaintext) in UPDATE_CLASSES
        assert messages.decode(plaintext) == update
        assert padding_of(plaintext) == len(plaintext) - len(messages.encode(update))


class Tap:
    """The lengths of the ciphertexts the relay forwards, by the side that sent them."""

    def __init__(self) -> None:
        self.lengths: dict[Side, list[int]] = defaultdict(list)

    def around(self, forward):  # type: ignore[no-untyped-def]
        def tapped(connection, data):  # type: ignore[no-untyped-def]
            if connection.side is not None:
                self.lengths[connection.side].append(len(data))
            return forward(connection, data)

        return tapped


async def keys_through_the_relay(tmp_path: Path) -> list[int]:
    """The lengths on the relay of the technician's key presses, one per key of KEYS."""
    tap = Tap()
    async with running_relay(tmp_path / "relay") as relay:
        relay.relay.on_binary = tap.around(relay.relay.on_binary)  # type: ignore[method-assign]
        async with live_session(
            tmp_path, relay.data_dir, relay.fingerprint, host_url=relay.url, viewer_url=relay.url
        ) as live:
            for count, key in enumerate(KEYS, start=1):
                live.client.submit(messages.Key(key, True))
                async with asyncio.timeout(WAIT_SECONDS):
                    while live.agent.gate.counters.injected < count:  # type: ignore[union-attr]
                        await asyncio.sleep(0.01)  # the host injects: polled, bounded above
            forwarded = list(tap.lengths[Side.VIEWER])
            sent = list(live.watch.sent_messages)
            await live.finish()
    # The relay forwards the viewer's sealed messages in the order they were sealed, after
    # the handshake's frames (the last few sealed may still be on their way).
    lengths = [len(plaintext) + TAG_BYTES for _, plaintext in sent]
    handshake = next(
        count for count in range(len(forwarded))
        if forwarded[count:] == lengths[: len(forwarded) - count]
    )  # fmt: skip
    theirs = forwarded[handshake:]
    keys = [index for index, (message, _) in enumerate(sent) if isinstance(message, messages.Key)]
    assert keys and keys[-1] < len(theirs)  # each key was forwarded (the host injected it)
    return [theirs[index] for index in keys]


async def test_the_relay_sees_one_length_for_every_key(tmp_path: Path) -> None:
    lengths = await keys_through_the_relay(tmp_path)
    assert lengths == [INPUT_BYTES + TAG_BYTES] * len(KEYS)


async def test_an_older_viewer_gets_no_padding_and_the_session_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = tuple(c for c in viewer_client.VIEWER_CAPABILITIES if c != PADDING_CAPABILITY)
    monkeypatch.setattr(viewer_client, "VIEWER_CAPABILITIES", older)
    monkeypatch.setattr(viewer_client, "PADDING_CAPABILITY", "unknown-to-an-older-viewer")
    lengths = await keys_through_the_relay(tmp_path)
    assert len(set(lengths)) == len(KEYS)  # unpadded: each key its own length
