import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import ProtocolError, UnsupportedVersion, WrongCode
from protocol.handshake import (
    CONFIRM_BODY_BYTES,
    Handshake,
    Kind,
    State,
    encode_message,
)

SESSION = "482139"


def run_handshake(host_secret="072261", viewer_secret="072261", session=SESSION):
    host = Handshake.for_host(host_secret, session)
    viewer = Handshake.for_viewer(viewer_secret, session)
    host_pake, viewer_pake = host.start(), viewer.start()
    host_confirm = host.receive(viewer_pake).outgoing
    viewer_confirm = viewer.receive(host_pake).outgoing
    return host, viewer, host_confirm, viewer_confirm


def test_right_code_gives_matching_keys_on_both_sides():
    host, viewer, host_confirm, viewer_confirm = run_handshake()
    host_keys = host.receive(viewer_confirm).keys
    viewer_keys = viewer.receive(host_confirm).keys
    assert host_keys.send_key == viewer_keys.receive_key
    assert host_keys.receive_key == viewer_keys.send_key
    assert host_keys.send_key != host_keys.receive_key
    assert host_keys.resume_key == viewer_keys.resume_key
    assert host.state is viewer.state is State.DONE


def test_wrong_code_fails_on_both_sides_and_yields_no_keys():
    host, viewer, host_confirm, viewer_confirm = run_handshake(viewer_secret="072262")
    with pytest.raises(WrongCode):
        host.receive(viewer_confirm)
    with pytest.raises(WrongCode):
        viewer.receive(host_confirm)
    assert host.state is viewer.state is State.FAILED


def test_keys_are_bound_to_the_session_number():
    host = Handshake.for_host("072261", SESSION)
    viewer = Handshake.for_viewer("072261", "999999")
    host_pake, viewer_pake = host.start(), viewer.start()
    host_confirm = host.receive(viewer_pake).outgoing
    viewer.receive(host_pake)
    with pytest.raises(WrongCode):
        viewer.receive(host_confirm)


def test_each_handshake_gives_fresh_keys():
    first, *_ = run_handshake()
    second, *_ = run_handshake()
    assert first._pending_keys.send_key != second._pending_keys.send_key


def test_keys_and_secret_never_appear_in_repr():
    host, viewer, host_confirm, viewer_confirm = run_handshake()
    keys = host.receive(viewer_confirm).keys
    assert keys.send_key.hex() not in repr(keys)
    assert "072261" not in repr(keys)


def test_reflected_pake_message_aborts():
    host = Handshake.for_host("072261", SESSION)
    own = host.start()
    with pytest.raises(ProtocolError, match="reflected"):
        host.receive(own)
    assert host.state is State.FAILED


def test_pake_message_from_the_same_side_aborts():
    host = Handshake.for_host("072261", SESSION)
    other_host = Handshake.for_host("072261", SESSION)
    host.start()
    with pytest.raises(ProtocolError):
        host.receive(other_host.start())


def test_reflected_confirmation_aborts():
    host, viewer, host_confirm, viewer_confirm = run_handshake()
    with pytest.raises(ProtocolError, match="reflected"):
        host.receive(host_confirm)


@pytest.mark.parametrize("change", [lambda m: m + b"\x00", lambda m: m[:-1]])
def test_pake_message_of_wrong_length_is_refused_before_finish(change):
    host = Handshake.for_host("072261", SESSION)
    viewer = Handshake.for_viewer("072261", SESSION)
    host.start()
    with pytest.raises(ProtocolError, match="must carry"):
        host.receive(change(viewer.start()))
    assert host.state is State.FAILED


def test_second_pake_message_aborts():
    host = Handshake.for_host("072261", SESSION)
    viewer = Handshake.for_viewer("072261", SESSION)
    host.start()
    viewer_pake = viewer.start()
    host.receive(viewer_pake)
    with pytest.raises(ProtocolError, match="second PAKE"):
        host.receive(viewer_pake)


def test_confirmation_before_pake_aborts():
    host = Handshake.for_host("072261", SESSION)
    host.start()
    with pytest.raises(ProtocolError, match="before its PAKE"):
        host.receive(encode_message(Kind.CONFIRM, bytes(CONFIRM_BODY_BYTES)))


def test_data_before_start_or_after_done_aborts():
    fresh = Handshake.for_host("072261", SESSION)
    with pytest.raises(ProtocolError):
        fresh.receive(b"FW\x01\x01" + bytes(33))
    host, viewer, host_confirm, viewer_confirm = run_handshake()
    host.receive(viewer_confirm)
    with pytest.raises(ProtocolError):
        host.receive(b"anything")


def test_unknown_protocol_version_is_a_clear_error():
    host = Handshake.for_host("072261", SESSION)
    host.start()
    with pytest.raises(UnsupportedVersion, match="version 9"):
        host.receive(b"FW\x09\x01" + bytes(33))


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_only_ever_raise_protocol_error(data):
    host = Handshake.for_host("072261", SESSION)
    host.start()
    try:
        host.receive(data)
    except ProtocolError:
        assert host.state is State.FAILED
