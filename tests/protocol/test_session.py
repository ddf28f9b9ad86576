import pytest

from protocol import messages
from protocol.codes import Code
from protocol.errors import IntegrityError, ProtocolError, WrongCode
from protocol.handshake import Role
from protocol.session import Established, PeerSession, Received, Send, SessionState

CODE = Code("482139", "072261")


def connect(host_code=CODE, viewer_code=CODE):
    host, viewer = PeerSession(Role.HOST, host_code), PeerSession(Role.VIEWER, viewer_code)
    to_viewer, to_host = [host.start()], [viewer.start()]
    host_events, viewer_events = [], []
    while to_viewer or to_host:
        if to_host:
            events = host.receive(to_host.pop(0))
            host_events += events
            to_viewer += [e.data for e in events if isinstance(e, Send)]
        if to_viewer:
            events = viewer.receive(to_viewer.pop(0))
            viewer_events += events
            to_host += [e.data for e in events if isinstance(e, Send)]
    return host, viewer, host_events, viewer_events


def test_sessions_establish_and_carry_messages_with_their_plaintext():
    host, viewer, host_events, viewer_events = connect()
    assert any(isinstance(e, Established) for e in host_events)
    assert any(isinstance(e, Established) for e in viewer_events)
    frame = host.seal(messages.Chat("Hallo, ich sehe Ihren Bildschirm"))
    [received] = viewer.receive(frame)
    assert isinstance(received, Received)
    assert received.message == messages.Chat("Hallo, ich sehe Ihren Bildschirm")
    assert received.plaintext == messages.encode(received.message)
    [back] = host.receive(viewer.seal(messages.Ack(1)))
    assert back.message == messages.Ack(1)


def test_wrong_code_fails_on_both_sides_and_nothing_can_be_sent():
    with pytest.raises(WrongCode):
        connect(viewer_code=Code("482139", "072262"))


def test_nothing_is_sealed_before_the_handshake_finished():
    host = PeerSession(Role.HOST, CODE)
    host.start()
    with pytest.raises(ProtocolError):
        host.seal(messages.Pause())


def test_tampered_frame_closes_the_session():
    host, viewer, *_ = connect()
    frame = bytearray(host.seal(messages.Pause()))
    frame[0] ^= 1
    with pytest.raises(IntegrityError):
        viewer.receive(bytes(frame))
    assert viewer.state is SessionState.CLOSED
    with pytest.raises(ProtocolError):
        viewer.seal(messages.Ack(1))


def test_malformed_plaintext_from_the_peer_is_a_protocol_error():
    host, viewer, *_ = connect()
    with pytest.raises(ProtocolError, match="unknown message type"):
        viewer.receive(host.seal_plaintext(b"\x91\x63"))
