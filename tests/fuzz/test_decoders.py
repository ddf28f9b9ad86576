"""Fuzzing the wire decoders with mutated real encodings: only the documented error comes out.

Decoders: `messages.decode`, `control.decode`, `handshake.decode_message`,
`Handshake.receive`, `codes.parse_code`, `Channel.open`. The plain hypothesis tests in
tests/protocol/ feed them random bytes and random field values; these start from valid
encodings instead (see tests/fuzz/mutations.py), and also check that whatever does decode
encodes back to the same message.
"""

from __future__ import annotations

import json

import hypothesis.strategies as st
import msgpack

from protocol import control, messages
from protocol.channel import Channel, Direction
from protocol.codes import Code, format_digits, parse_code
from protocol.errors import IntegrityError, InvalidCode, ProtocolError, WrongCode
from protocol.handshake import Handshake, Kind, State, decode_message, encode_message
from tests.fuzz.mutations import fuzz_target, mutated_bytes, mutated_text, mutated_value

TILES = (
    messages.Tile(0, 0, 64, 64, messages.Codec.FILL, b"\x10\x20\x30"),
    messages.Tile(64, 0, 32, 16, messages.Codec.PNG, b"\x89PNG\r\n\x1a\n" + bytes(40)),
    messages.Tile(1850, 1040, 70, 40, messages.Codec.JPEG, bytes(range(200))),
    messages.Tile(0, 64, 16, 16, messages.Codec.WEBP_LOSSLESS, b"RIFF" + bytes(20)),
    messages.Tile(
        16, 64, 8, 4, messages.Codec.RECTS, bytes.fromhex("102030ff00000001000100030002")
    ),
)
MESSAGES = (
    messages.Hello((1, 2), ("tiles", "cursor"), 1920, 1080),
    messages.Hello((1,), (), 0, 0),
    messages.FrameUpdate(1, 1_714_572_000.25, 1920, 1080, TILES),
    messages.FrameUpdate(2**40, 0.0, 1, 1, ()),
    messages.Cursor(100, 200, True),
    messages.PointerMove(16383, 0),
    messages.PointerButton(5, 6, messages.Button.RIGHT, False),
    messages.Scroll(1, 2, -100, 100),
    messages.Key("ä", True),
    messages.Key("Return", False),
    messages.Ack(7),
    messages.ConsentState(messages.ConsentLevel.CONTROL),
    messages.Pause(),
    messages.Resume(),
    messages.Chat("Einen Moment bitte, ich öffne die Einstellungen."),
    messages.Checkpoint(12, bytes(range(32))),
    messages.Bye("the technician ended the session"),
    messages.RefreshRequest(),
    messages.ControlRequest(),
)
MESSAGE_ENCODINGS = tuple(messages.encode(m) for m in MESSAGES)
MESSAGE_VALUES = tuple(msgpack.unpackb(e, raw=False) for e in MESSAGE_ENCODINGS)

CONTROLS = (
    control.Register(version=1),
    control.Registered(session="482139", expires_in=600),
    control.Join(session="482139", version=1, customer="K-1001"),
    control.Join(session="1234", version=1),
    control.Joined(),
    control.PeerJoined(technician="Erika Muster"),
    control.FailedAttempt(),
    control.Void(),
    control.Consent(level=control.ReportedConsent.VIEW),
    control.Checkpoint(records=3, head=bytes(range(32))),
    control.PeerLeft(reason="the customer disconnected"),
    control.End(reason="done"),
    control.Error(code=control.ErrorCode.RATE_LIMITED, message="wait a minute"),
)
CONTROL_TEXTS = tuple(control.encode(c) for c in CONTROLS)


def decodes_back(message: messages.Message) -> None:
    assert messages.decode(messages.encode(message)) == message


@fuzz_target(mutated_bytes(MESSAGE_ENCODINGS), examples=250)
def test_mutated_messages_decode_or_raise_protocol_error(data: bytes) -> None:
    try:
        message = messages.decode(data)
    except ProtocolError:
        return
    decodes_back(message)


@fuzz_target(st.sampled_from(MESSAGE_VALUES).flatmap(mutated_value), st.booleans(), examples=300)
def test_well_formed_msgpack_with_mutated_fields_only_raises_protocol_error(
    value: object, binary_type: bool
) -> None:
    try:
        data = msgpack.packb(value, use_bin_type=binary_type)
    except (OverflowError, ValueError, TypeError):
        return  # not representable in msgpack: nothing a peer could send
    try:
        message = messages.decode(data)
    except ProtocolError:
        return
    decodes_back(message)


def control_decodes_back(message: control.Control) -> None:
    assert control.decode(control.encode(message)) == message


@fuzz_target(mutated_text(CONTROL_TEXTS), st.booleans(), examples=250)
def test_mutated_control_text_decodes_or_raises_protocol_error(text: str, as_bytes: bool) -> None:
    frame: str | bytes = text.encode("utf-8", "surrogatepass") if as_bytes else text
    try:
        message = control.decode(frame)
    except ProtocolError:
        return
    control_decodes_back(message)


@fuzz_target(
    st.sampled_from(CONTROL_TEXTS).map(json.loads).flatmap(mutated_value),
    st.booleans(),
    examples=300,
)
def test_control_objects_with_mutated_fields_only_raise_protocol_error(
    value: object, ascii_only: bool
) -> None:
    try:
        text = json.dumps(value, ensure_ascii=ascii_only)
    except TypeError:
        return  # bytes: not JSON, nothing a client could send
    try:
        message = control.decode(text)
    except ProtocolError:
        return
    control_decodes_back(message)


# handshake

SECRET, SESSION = "907226", "48213"


def conversation() -> tuple[Handshake, Handshake, bytes, bytes]:
    host, viewer = Handshake.for_host(SECRET, SESSION), Handshake.for_viewer(SECRET, SESSION)
    return host, viewer, host.start(), viewer.start()


def recorded_handshake_messages() -> tuple[bytes, ...]:
    host, viewer, host_pake, viewer_pake = conversation()
    host_confirm = host.receive(viewer_pake).outgoing
    viewer_confirm = viewer.receive(host_pake).outgoing
    assert host_confirm is not None and viewer_confirm is not None
    return host_pake, viewer_pake, host_confirm, viewer_confirm


HANDSHAKE_MESSAGES = recorded_handshake_messages()


@fuzz_target(mutated_bytes(HANDSHAKE_MESSAGES), examples=250)
def test_mutated_handshake_frames_split_or_raise_protocol_error(data: bytes) -> None:
    try:
        kind, body = decode_message(data)
    except ProtocolError:
        return
    assert encode_message(kind, body, version=data[2]) == data


@fuzz_target(st.data(), examples=25)
def test_a_handshake_fed_mutated_messages_fails_cleanly_and_never_yields_keys(
    data: st.DataObject,
) -> None:
    """Keys come out only if both of the peer's messages arrive exactly as sent."""
    host, viewer, host_pake, viewer_pake = conversation()
    others = (host_pake, *HANDSHAKE_MESSAGES)
    pake = data.draw(mutated_bytes((viewer_pake, *others), max_mutations=2))
    try:
        step = host.receive(pake)
    except ProtocolError:
        assert host.state is State.FAILED
        return
    assert step.keys is None and step.outgoing is not None
    confirm = viewer.receive(host_pake).outgoing
    assert confirm is not None
    mutated_confirm = data.draw(mutated_bytes((confirm, step.outgoing, *others), max_mutations=2))
    try:
        step = host.receive(mutated_confirm)
    except (ProtocolError, WrongCode):
        assert host.state is State.FAILED
        try:
            host.receive(confirm)
        except ProtocolError:
            return
        raise AssertionError("a failed handshake accepted another message") from None
    assert step.keys is not None
    assert (pake, mutated_confirm) == (viewer_pake, confirm)


def test_a_pake_point_off_the_curve_is_a_protocol_error() -> None:
    """Found by the fuzzer: spake2 raised its own NotOnCurve through Handshake.receive."""
    host = Handshake.for_host(SECRET, SESSION)
    host.start()
    off_curve = encode_message(Kind.PAKE, b"B" + bytes([2]) * 32)
    try:
        host.receive(off_curve)
    except ProtocolError:
        assert host.state is State.FAILED
    else:
        raise AssertionError("a PAKE point off the curve was accepted")


# codes

CODE_TEXTS = tuple(
    text
    for session in ("4821", "482139", "48213907", "482139072261")
    for text in (
        format_digits(session + "072261"),
        session + "072261",
        "-".join(format_digits(session + "072261").split()),
        "  " + ".".join(format_digits(session + "072261").split()) + "\n",
    )
)


@fuzz_target(mutated_text(CODE_TEXTS), examples=250)
def test_mutated_typed_codes_parse_or_raise_invalid_code(text: str) -> None:
    try:
        code = parse_code(text)
    except InvalidCode as error:
        typed_digits = "".join(c for c in text if c.isdigit())
        assert len(typed_digits) < 6 or typed_digits not in str(error)  # never echoes a code
        return
    assert isinstance(code, Code)
    assert code.digits().isascii() and code.digits().isdigit()
    assert code.digits() == "".join(c for c in text if not (c.isspace() or c in ".-"))
    assert parse_code(code.spoken()) == code


# channel

KEY_A, KEY_B = bytes(range(32)), bytes(range(1, 33))


def channel_pair() -> tuple[Channel, Channel]:
    host = Channel(KEY_A, KEY_B, Direction.HOST_TO_VIEWER)
    viewer = Channel(KEY_B, KEY_A, Direction.VIEWER_TO_HOST)
    return host, viewer


def sealed_stream() -> tuple[bytes, ...]:
    host, _ = channel_pair()
    return tuple(host.seal(plaintext) for plaintext in MESSAGE_ENCODINGS[:4])


SEALED = sealed_stream()


@fuzz_target(mutated_bytes(SEALED), examples=250)
def test_mutated_sealed_messages_only_raise_integrity_error(data: bytes) -> None:
    """Message 1 replaced by a mutation of any sealed message: refused unless it is exactly
    message 1; a refusal costs nothing, the genuine message 1 still opens after it."""
    _, viewer = channel_pair()
    assert viewer.open(SEALED[0]) == MESSAGE_ENCODINGS[0]
    try:
        plaintext = viewer.open(data)
    except IntegrityError:
        assert data != SEALED[1]
        assert viewer.receive_counter == 1
        assert viewer.open(SEALED[1]) == MESSAGE_ENCODINGS[1]
        return
    assert data == SEALED[1] and plaintext == MESSAGE_ENCODINGS[1]
