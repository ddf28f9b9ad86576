"""Technicians: the CLI, token checks, and revocation reaching a running relay."""

from __future__ import annotations

from pathlib import Path

import pytest

from fernwartung.cli import main
from protocol import control
from protocol.errors import NotAuthorised, SessionEnded
from relay.ledger import LEDGER_FILE, Ledger, hash_token
from tests.relay.conftest import pair, receive, register, viewer_link, wait_for
from tests.support.relay import RelayInfo, add_technician, revoke_technician


def test_add_prints_the_token_alone_on_the_last_line_and_stores_only_its_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["technician", "add", "Bob Builder", "--data-dir", str(tmp_path)]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert len(token) >= 40 and " " not in token
    raw = (tmp_path / LEDGER_FILE).read_bytes()
    assert token.encode() not in raw
    ledger = Ledger(tmp_path)
    try:
        technician = ledger.technician_for_token(token)
        assert technician is not None and technician.name == "Bob Builder"
        assert ledger.technician_for_token(token + "x") is None
        assert hash_token(token) != token
    finally:
        ledger.close()


def test_list_and_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("Alice", "Bob"):
        assert main(["technician", "add", name, "--data-dir", str(tmp_path)]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["technician", "revoke", "Bob", "--data-dir", str(tmp_path)]) == 0
    assert main(["technician", "list", "--data-dir", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert "Alice" in listing and "active" in listing and "revoked" in listing
    ledger = Ledger(tmp_path)
    try:
        assert ledger.technician_for_token(token) is None
    finally:
        ledger.close()


def test_duplicate_names_and_unknown_revokes_fail_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["technician", "add", "Alice", "--data-dir", str(tmp_path)]) == 0
    assert main(["technician", "add", "Alice", "--data-dir", str(tmp_path)]) == 1
    assert main(["technician", "revoke", "Nobody", "--data-dir", str(tmp_path)]) == 1
    assert main(["technician", "add", "bad\nname", "--data-dir", str(tmp_path)]) == 1
    errors = capsys.readouterr().err
    assert "already exists" in errors and "no technician" in errors and "printable" in errors


async def test_a_revoked_token_is_refused_and_its_live_session_ended(
    relay: RelayInfo, token: str
) -> None:
    session = await pair(relay, token)
    await session.host.send_control(control.Consent(level=control.ReportedConsent.CONTROL))
    await session.host.send_binary(b"frame")
    assert await receive(session.viewer) == b"frame"
    revoke_technician(relay.data_dir, "Alice")  # as `fernwartung technician revoke` would
    with pytest.raises(NotAuthorised, match="revoked"):
        await receive(session.viewer)
    left = await receive(session.host)
    assert isinstance(left, control.PeerLeft) and "revoked" in left.reason
    with pytest.raises(NotAuthorised):
        await viewer_link(relay, token)
    await wait_for(
        lambda: relay.relay.ledger.session_rows()[0]["end_reason"] == "revoked", "ledger row"
    )
    await session.host.send_control(control.End(reason="bye"))
    with pytest.raises(SessionEnded):
        await receive(session.host)


async def test_revocation_before_consent_frees_the_code_for_another_technician(
    relay: RelayInfo, token: str
) -> None:
    session = await pair(relay, token)
    revoke_technician(relay.data_dir, "Alice")
    with pytest.raises(NotAuthorised):
        await receive(session.viewer)
    assert isinstance(await receive(session.host), control.PeerLeft)
    other = await viewer_link(relay, add_technician(relay.data_dir, "Bob"))
    await other.send_control(control.Join(session=session.session, version=1))
    assert isinstance(await receive(other), control.Joined)
    assert await receive(session.host) == control.PeerJoined(technician="Bob")
    await other.close()
    await session.host.close()


async def test_a_token_revoked_after_the_upgrade_is_refused_at_join(
    relay: RelayInfo, token: str
) -> None:
    host, number = await register(relay)
    viewer = await viewer_link(relay, token)
    revoke_technician(relay.data_dir, "Alice")
    await viewer.send_control(control.Join(session=number, version=1))
    with pytest.raises(NotAuthorised, match="revoked"):
        await receive(viewer)
    await host.close()
