import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from protocol.channel import (
    MAX_MESSAGES_PER_DIRECTION,
    TAG_BYTES,
    Channel,
    Direction,
    nonce_for,
)
from protocol.errors import IntegrityError, ProtocolError, SessionEnded

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))
VECTORS = json.loads((Path(__file__).parent / "channel_vectors.json").read_text())


def pair(**host_options):
    host = Channel(KEY_A, KEY_B, Direction.HOST_TO_VIEWER, **host_options)
    viewer = Channel(KEY_B, KEY_A, Direction.VIEWER_TO_HOST)
    return host, viewer


@pytest.mark.parametrize(
    "vector", VECTORS["vectors"], ids=lambda v: f"{v['direction']}-{v['counter']}"
)
def test_channel_format_matches_pinned_vectors(vector):
    direction = Direction[vector["direction"].upper()]
    key = bytes.fromhex(vector["key"])
    other = KEY_B if key == KEY_A else KEY_A
    sender = Channel(key, other, direction, send_counter=vector["counter"])
    assert sender.seal(bytes.fromhex(vector["plaintext"])).hex() == vector["ciphertext"]
    receiver_direction = (
        Direction.VIEWER_TO_HOST
        if direction is Direction.HOST_TO_VIEWER
        else Direction.HOST_TO_VIEWER
    )
    receiver = Channel(other, key, receiver_direction, receive_counter=vector["counter"])
    assert receiver.open(bytes.fromhex(vector["ciphertext"])).hex() == vector["plaintext"]


def test_messages_flow_both_ways_in_order():
    host, viewer = pair()
    for i in range(5):
        assert viewer.open(host.seal(b"frame %d" % i)) == b"frame %d" % i
        assert host.open(viewer.seal(b"ack %d" % i)) == b"ack %d" % i


def test_nonce_is_never_on_the_wire():
    host, _ = pair()
    assert len(host.seal(b"x" * 10)) == 10 + TAG_BYTES


@given(st.binary(min_size=1, max_size=64), st.data())
def test_tampering_with_any_byte_is_detected(plaintext, data):
    host, viewer = pair()
    sealed = bytearray(host.seal(plaintext))
    index = data.draw(st.integers(0, len(sealed) - 1))
    sealed[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(IntegrityError):
        viewer.open(bytes(sealed))


def test_replay_is_detected():
    host, viewer = pair()
    message = host.seal(b"click")
    viewer.open(message)
    with pytest.raises(IntegrityError):
        viewer.open(message)


def test_reorder_is_detected():
    host, viewer = pair()
    _first, second = host.seal(b"1"), host.seal(b"2")
    with pytest.raises(IntegrityError):
        viewer.open(second)


def test_drop_is_detected():
    host, viewer = pair()
    host.seal(b"lost")
    with pytest.raises(IntegrityError):
        viewer.open(host.seal(b"next"))


def test_truncated_below_tag_is_detected():
    host, viewer = pair()
    with pytest.raises(IntegrityError, match="shorter"):
        viewer.open(host.seal(b"")[: TAG_BYTES - 1])


def test_message_echoed_back_to_its_sender_fails():
    host, viewer = pair()
    with pytest.raises(IntegrityError):
        host.open(host.seal(b"echo"))


def test_failed_open_does_not_advance_the_counter():
    host, viewer = pair()
    good = host.seal(b"ok")
    with pytest.raises(IntegrityError):
        viewer.open(good[:-1] + bytes([good[-1] ^ 1]))
    assert viewer.open(good) == b"ok"


def test_nonces_never_repeat_across_100000_messages():
    host, _ = pair()
    seen = set()
    for _ in range(100_000):
        counter = host.send_counter
        host.seal(b"")
        seen.add(nonce_for(host.send_direction, counter))
    assert len(seen) == 100_000
    assert nonce_for(Direction.VIEWER_TO_HOST, 0) != nonce_for(Direction.HOST_TO_VIEWER, 0)


def test_sealed_messages_really_use_the_counter_nonce():
    host, _ = pair(send_counter=41)
    sealed = host.seal(b"check")
    aad = b"fernwartung-channel-v1" + bytes([1]) + (41).to_bytes(8, "big")
    assert AESGCM(KEY_A).decrypt(nonce_for(Direction.HOST_TO_VIEWER, 41), sealed, aad) == b"check"


def test_session_ends_before_a_counter_could_wrap():
    host, viewer = pair(send_counter=MAX_MESSAGES_PER_DIRECTION)
    with pytest.raises(SessionEnded):
        host.seal(b"one too many")


def test_one_key_for_both_directions_is_refused():
    with pytest.raises(ValueError):
        Channel(KEY_A, KEY_A, Direction.HOST_TO_VIEWER)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_raise_protocol_error(data):
    _, viewer = pair()
    with pytest.raises(ProtocolError):
        viewer.open(data)
