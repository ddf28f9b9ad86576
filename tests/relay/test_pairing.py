"""Register, join, forward and leave, on the real relay over TLS on loopback."""

from __future__ import annotations

import pytest

from endpoint.relay_link import open_link
from protocol import control
from protocol.errors import CodeVoid, NotAuthorised, SessionEnded
from relay.ledger import Ledger
from tests.relay.conftest import (
    pair,
    raw_connect,
    receive,
    register,
    viewer_link,
    wait_for,
)
from tests.support.relay import RelayInfo, add_technician


def session_rows(relay: RelayInfo) -> list[dict[str, object]]:
    ledger = Ledger(relay.data_dir)
    try:
        return ledger.session_rows()
    finally:
        ledger.close()


async def test_register_gives_a_six_digit_session_number(relay: RelayInfo) -> None:
    host, session = await register(relay)
    assert len(session) == 6 and session.isdigit() and session[0] != "0"
    await host.close()


async def test_join_tells_the_host_the_technicians_name(relay: RelayInfo, token: str) -> None:
    session = await pair(relay, token)
    await session.close()


@pytest.mark.parametrize("size", [0, 1, 65_536, 1_048_576, 4 * 1_048_576 + 3])
async def test_binary_frames_are_forwarded_byte_exact_both_ways(
    relay: RelayInfo, token: str, size: int
) -> None:
    session = await pair(relay, token)
    payload = bytes(i % 251 for i in range(size))
    await session.host.send_binary(payload)
    assert await receive(session.viewer) == payload
    await session.viewer.send_binary(payload[::-1])
    assert await receive(session.host) == payload[::-1]
    await session.close()


async def test_many_frames_keep_their_order(relay: RelayInfo, token: str) -> None:
    session = await pair(relay, token)
    for number in range(200):
        await session.host.send_binary(number.to_bytes(2, "big"))
    for number in range(200):
        assert await receive(session.viewer) == number.to_bytes(2, "big")
    await session.close()


async def test_unknown_session_is_refused(relay: RelayInfo, token: str) -> None:
    viewer = await viewer_link(relay, token)
    await viewer.send_control(control.Join(session="123456", version=1))
    with pytest.raises(CodeVoid):
        await receive(viewer)


async def test_a_third_client_is_refused_without_disturbing_the_pair(
    relay: RelayInfo, token: str
) -> None:
    session = await pair(relay, token)
    intruder = await viewer_link(relay, token)
    await intruder.send_control(control.Join(session=session.session, version=1))
    with pytest.raises(SessionEnded, match="already connected"):
        await receive(intruder)
    await session.host.send_binary(b"still here")
    assert await receive(session.viewer) == b"still here"
    await session.viewer.send_binary(b"me too")
    assert await receive(session.host) == b"me too"
    await session.close()


async def test_an_unused_code_expires(tmp_path) -> None:  # noqa: ANN001
    from tests.support.relay import running_relay

    async with running_relay(tmp_path, code_ttl_seconds=0.3) as relay:
        token = add_technician(tmp_path, "Alice")
        host, session = await register(relay)
        with pytest.raises(CodeVoid, match="expired"):
            await receive(host)
        viewer = await viewer_link(relay, token)
        await viewer.send_control(control.Join(session=session, version=1))
        with pytest.raises(CodeVoid, match="expired"):
            await receive(viewer)
        await wait_for(lambda: session_rows(relay)[0]["end_reason"] == "expired", "ledger row")


async def test_a_bad_token_is_refused_at_the_upgrade(relay: RelayInfo, token: str) -> None:
    with pytest.raises(NotAuthorised):
        await viewer_link(relay, "not-a-token")
    with pytest.raises(NotAuthorised):
        await open_link(relay.url, "/v1/viewer", fingerprint_pin=relay.fingerprint)
    assert relay.relay.metrics.connections_refused_http["401"] == 2


async def test_an_unsupported_version_is_refused(relay: RelayInfo, token: str) -> None:
    host = await open_link(relay.url, "/v1/host", fingerprint_pin=relay.fingerprint)
    await host.send_control(control.Register(version=2))
    with pytest.raises(Exception, match="protocol version") as refused:
        await receive(host)
    assert type(refused.value).__name__ == "ProtocolError"
    viewer = await viewer_link(relay, token)
    await viewer.send_control(control.Join(session="123456", version=9))
    with pytest.raises(Exception, match="protocol version"):
        await receive(viewer)


async def test_register_on_the_viewer_path_is_a_bad_message(relay: RelayInfo, token: str) -> None:
    websocket = await raw_connect(relay, "/v1/viewer", token)
    await websocket.send(control.encode(control.Register(version=1)))
    error = control.decode(await websocket.recv())
    assert isinstance(error, control.Error) and error.code is control.ErrorCode.BAD_MESSAGE
    await websocket.wait_closed()
    assert websocket.close_code == 1008


async def test_viewer_leaving_tells_the_host_and_closes_the_ledger_row(
    relay: RelayInfo, token: str
) -> None:
    session = await pair(relay, token, customer="ACME-42")
    await session.host.send_control(control.Consent(level=control.ReportedConsent.CONTROL))
    await session.host.send_binary(b"a" * 1000)
    assert await receive(session.viewer) == b"a" * 1000
    await session.viewer.send_binary(b"b" * 10)
    assert await receive(session.host) == b"b" * 10
    await session.viewer.close()
    left = await receive(session.host)
    assert isinstance(left, control.PeerLeft) and "technician" in left.reason
    await wait_for(lambda: session_rows(relay)[0]["ended"] is not None, "ledger row closed")
    row = session_rows(relay)[0]
    assert row["technician"] == "Alice" and row["customer"] == "ACME-42"
    assert row["end_reason"] == "viewer_left"
    assert row["consent_level"] == "control" and row["consent_granted"] is not None
    assert row["paired"] is not None and row["registered"] is not None
    assert (row["bytes_host_to_viewer"], row["bytes_viewer_to_host"]) == (1000, 10)
    await session.host.close()


async def test_host_leaving_tells_the_viewer(relay: RelayInfo, token: str) -> None:
    session = await pair(relay, token)
    await session.host.close()
    left = await receive(session.viewer)
    assert isinstance(left, control.PeerLeft) and "customer" in left.reason
    await wait_for(lambda: session_rows(relay)[0]["end_reason"] == "host_left", "ledger row")


async def test_end_is_passed_on_and_final_checkpoints_are_kept(
    relay: RelayInfo, token: str
) -> None:
    session = await pair(relay, token)
    await session.host.send_control(control.Consent(level=control.ReportedConsent.VIEW))
    head = bytes(range(32))
    await session.viewer.send_control(control.Checkpoint(records=7, head=head))
    await session.viewer.send_control(control.End(reason="done"))
    assert await receive(session.host) == control.End(reason="done")
    # The remaining side may still report its final chain heads (after its END record).
    final = control.Checkpoint(records=9, head=head[::-1], file_records=40, file_head="ab" * 32)
    await session.host.send_control(final)
    await session.host.send_control(control.End(reason="done"))
    with pytest.raises(SessionEnded):
        await receive(session.host)

    def checkpoints() -> list[dict[str, object]]:
        ledger = Ledger(relay.data_dir)
        try:
            return ledger.checkpoint_rows()
        finally:
            ledger.close()

    await wait_for(lambda: len(checkpoints()) == 2, "two checkpoints")
    sides = [(row["side"], row["records"], row["head"]) for row in checkpoints()]
    assert sides == [("viewer", 7, head.hex()), ("host", 9, head[::-1].hex())]
    assert (checkpoints()[1]["file_records"], checkpoints()[1]["file_head"]) == (40, "ab" * 32)
    assert session_rows(relay)[0]["end_reason"] == "viewer_ended"


async def test_a_viewer_leaving_before_consent_lets_another_try(
    relay: RelayInfo, token: str
) -> None:
    session = await pair(relay, token)
    await session.viewer.close()
    assert isinstance(await receive(session.host), control.PeerLeft)
    second = await viewer_link(relay, token)
    await second.send_control(control.Join(session=session.session, version=1))
    assert isinstance(await receive(second), control.Joined)
    assert await receive(session.host) == control.PeerJoined(technician="Alice")
    await second.send_binary(b"hello")
    assert await receive(session.host) == b"hello"
    await second.close()
    await session.host.close()


async def test_three_failed_attempts_void_the_session(relay: RelayInfo, token: str) -> None:
    host, session = await register(relay)
    for attempt in range(3):
        viewer = await viewer_link(relay, token)
        await viewer.send_control(control.Join(session=session, version=1))
        assert isinstance(await receive(viewer), control.Joined)
        assert isinstance(await receive(host), control.PeerJoined)
        await host.send_control(control.FailedAttempt())
        if attempt < 2:
            # The viewer is dropped; the code stays valid for another try.
            with pytest.raises(SessionEnded, match="wrong code"):
                await receive(viewer)
            assert isinstance(await receive(host), control.PeerLeft)
        else:
            with pytest.raises(CodeVoid):
                await receive(viewer)
            assert await receive(host) == control.Void()
            with pytest.raises(SessionEnded):
                await receive(host)
    late = await viewer_link(relay, token)
    await late.send_control(control.Join(session=session, version=1))
    with pytest.raises(CodeVoid, match="void"):
        await receive(late)
    await wait_for(lambda: session_rows(relay)[0]["end_reason"] == "void", "ledger row")
    assert session_rows(relay)[0]["failed_attempts"] == 3


async def test_consent_from_the_viewer_is_a_bad_message(relay: RelayInfo, token: str) -> None:
    session = await pair(relay, token)
    await session.viewer.send_control(control.Consent(level=control.ReportedConsent.CONTROL))
    with pytest.raises(Exception, match="viewer may not send 'consent'"):
        await receive(session.viewer)
    assert isinstance(await receive(session.host), control.PeerLeft)
    await session.host.close()
