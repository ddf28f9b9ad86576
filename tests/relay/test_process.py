"""`fernwartung relay` as a real process: startup lines, TLS reuse, --no-tls rule, SIGTERM
and SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from endpoint.relay_link import RelayLink, open_link
from protocol import control
from protocol.errors import SessionEnded
from relay.ledger import Ledger
from tests.relay.conftest import receive
from tests.support.relay import add_technician, start_relay_process, stop_relay_process


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_stop_signals_tell_peers_and_close_ledger_rows(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    token = add_technician(tmp_path, "Alice")
    process, url, fingerprint = start_relay_process(tmp_path)
    try:
        assert url.startswith("wss://127.0.0.1:") and fingerprint and len(fingerprint) == 64
        host = await open_link(url, "/v1/host", fingerprint_pin=fingerprint)
        await host.send_control(control.Register(version=1))
        registered = await receive(host)
        assert isinstance(registered, control.Registered)
        viewer = await open_link(url, "/v1/viewer", fingerprint_pin=fingerprint, token=token)
        await viewer.send_control(control.Join(session=registered.session, version=1))
        assert isinstance(await receive(viewer), control.Joined)
        assert isinstance(await receive(host), control.PeerJoined)
        await host.send_control(control.Consent(level=control.ReportedConsent.VIEW))
        await host.send_binary(b"z" * 5000)
        assert await receive(viewer) == b"z" * 5000
        process.send_signal(stop_signal)
        link: RelayLink
        for link in (host, viewer):
            with pytest.raises(SessionEnded, match="shutting down"):
                await receive(link)
        assert process.wait(timeout=15) == 0
    finally:
        stop_relay_process(process)
    ledger = Ledger(tmp_path)
    try:
        (row,) = ledger.session_rows()
    finally:
        ledger.close()
    assert row["end_reason"] == "shutting_down" and row["ended"] is not None
    assert row["bytes_host_to_viewer"] == 5000 and row["consent_level"] == "view"
    log = (tmp_path / "relay.log").read_text()
    assert token not in log
    # The session number (routing only; the code's secret never reaches the relay) names
    # the session in the log as in the ledger, recordings and invoices (issue 21, point 16).
    assert f"session={registered.session} " in log
    assert "session_ended" in log


def test_the_self_signed_certificate_is_reused(tmp_path: Path) -> None:
    fingerprints = []
    for _ in range(2):
        process, _, fingerprint = start_relay_process(tmp_path, "--log-json")
        assert stop_relay_process(process) == 0
        fingerprints.append(fingerprint)
    assert fingerprints[0] == fingerprints[1] is not None
    assert (tmp_path / "relay-key.pem").stat().st_mode & 0o077 == 0
    assert '"event": "relay_started"' in (tmp_path / "relay.log").read_text()


def test_plain_websocket_is_refused_off_loopback(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "fernwartung", "relay", "--no-tls",
               "--listen", "0.0.0.0:0", "--data-dir", str(tmp_path)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "--behind-proxy" in result.stderr
    assert "LISTENING" not in result.stdout


def test_plain_websocket_on_loopback_prints_a_ws_url(tmp_path: Path) -> None:
    process, url, fingerprint = start_relay_process(tmp_path, "--no-tls")
    try:
        assert url.startswith("ws://127.0.0.1:") and fingerprint is None
    finally:
        assert stop_relay_process(process) == 0
