"""Resuming a live session (issue 9): a cut connection, a restarted relay, the kill switch.

Host agent (synthetic screen) and viewer run in this event loop against the real relay
(tests/support/resume_sessions.py); the connections to be cut go through a TCP proxy
(tests/support/tcp_proxy.py) that aborts them on demand. Both sides record; afterwards
both recordings verify against the relay's ledger, note the gap, and agree on every
checkpoint head.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from host_agent import events as ui
from host_agent.reconnect import REASON_LATE_INPUT
from host_agent.texts import Texts
from protocol import messages
from relay.ledger import Ledger
from tests.e2e.test_recording_e2e import outcomes_in
from tests.support.relay import free_port, start_relay_process, stop_relay_process
from tests.support.resume_sessions import (
    WAIT_SECONDS,
    CountingBackend,
    assert_recordings_agree,
    live_session,
    session_rows,
    session_through_proxy,
    wait_for_host_resumed,
)
from viewer.client import Phase

# ---- the tests ---------------------------------------------------------------------------


async def test_a_cut_host_connection_resumes_and_both_recordings_stay_one_chain(
    tmp_path: Path,
) -> None:
    CountingBackend.injected = []
    async with session_through_proxy(tmp_path, cut="host") as (relay, proxy, live):
        await live.client.send(messages.PointerMove(5, 5))
        await live.watch.frames_beyond(2)
        await proxy.cut()
        # Sent in the same instant (the viewer does not know yet): it cannot reach the host
        # before the resume, so it arrives late and must be recorded, not injected.
        await live.client.send(messages.PointerMove(6, 6))
        await live.watch.phase(Phase.RECONNECTING)
        await wait_for_host_resumed(live)
        await live.watch.frames_beyond(live.watch.frames + 2)  # frames continue
        await live.watch.phase(Phase.ACTIVE)
        await live.client.send(messages.PointerMove(7, 7))  # control as before
        await live.watch.checkpoints_beyond(live.watch.checkpoints + 1)  # two more, periodic
        outcome, status = await live.finish()
    assert outcome.status == 0, outcome
    assert status == 0
    assert relay.relay.metrics.resumes == 1
    assert proxy.connections == 2  # the first link and the resumed one, no new code
    [row] = session_rows(relay.data_dir)
    assert row["end_reason"] == "viewer_ended"
    assert_recordings_agree(live, relay.data_dir)
    outcomes = [(applied, reason) for _i, applied, reason in outcomes_in(live.host_recording.path)]
    assert outcomes == [(True, "applied"), (False, REASON_LATE_INPUT), (True, "applied")]
    assert CountingBackend.injected == ["move 5,5", "move 7,7"]
    # The customer was told, in the language of the agent (German shown for the record).
    assert "Connection interrupted – reconnecting" in live.host_ui.lines
    assert "Connection restored; sharing is as before" in live.host_ui.lines
    assert "Late inputs from the technician discarded (not carried out)" in live.host_ui.lines
    assert Texts("de")("reconnecting").startswith("Verbindung wird wiederhergestellt")


async def test_both_connections_cut_at_once_resume_too(tmp_path: Path) -> None:
    async with session_through_proxy(tmp_path, cut="both") as (relay, proxy, live):
        await live.watch.frames_beyond(2)
        await proxy.cut()
        await wait_for_host_resumed(live)
        await live.watch.frames_beyond(live.watch.frames + 2)
        await live.watch.checkpoints_beyond(live.watch.checkpoints + 1)
        outcome, status = await live.finish()
    assert (outcome.status, status) == (0, 0), outcome
    assert relay.relay.metrics.resumes == 2
    assert_recordings_agree(live, relay.data_dir)


def crash(process: subprocess.Popen[str]) -> None:
    process.kill()  # SIGKILL: no goodbye, nothing saved but what the ledger already held
    process.wait()


@pytest.mark.parametrize("how", ["stopped", "crashed"])
async def test_a_restarted_relay_takes_the_session_back(tmp_path: Path, how: str) -> None:
    data_dir = tmp_path / "relay"
    port = free_port()
    process, url, fingerprint = await asyncio.to_thread(
        start_relay_process, data_dir, "--resume-grace-seconds", "20", port=port
    )
    try:
        async with live_session(
            tmp_path, data_dir, fingerprint, host_url=url, viewer_url=url
        ) as live:
            await live.watch.frames_beyond(2)
            if how == "stopped":  # SIGTERM, as for an update
                assert await asyncio.to_thread(stop_relay_process, process) == 0
            else:
                await asyncio.to_thread(crash, process)
            process, url_again, fingerprint_again = await asyncio.to_thread(
                start_relay_process, data_dir, "--resume-grace-seconds", "20", port=port
            )
            assert (url_again, fingerprint_again) == (url, fingerprint)
            await wait_for_host_resumed(live)
            await live.watch.frames_beyond(live.watch.frames + 2)
            await live.watch.checkpoints_beyond(live.watch.checkpoints + 1)
            outcome, status = await live.finish()
    finally:
        await asyncio.to_thread(stop_relay_process, process)
    assert (outcome.status, status) == (0, 0), outcome
    [row] = session_rows(data_dir)
    assert row["end_reason"] == "viewer_ended"
    assert row["bytes_host_to_viewer"] > 0
    assert_recordings_agree(live, data_dir)


async def test_the_kill_switch_during_a_reconnect_means_nothing_resumes(tmp_path: Path) -> None:
    CountingBackend.injected = []
    async with session_through_proxy(tmp_path, cut="host", resume_grace_seconds=2.0) as (
        relay,
        proxy,
        live,
    ):
        await live.watch.frames_beyond(1)
        proxy.refuse()  # the customer's network stays down
        await proxy.cut()
        await live.host_ui.wait_for(ui.Reconnecting)
        await live.watch.phase(Phase.RECONNECTING)
        live.client.submit(messages.PointerMove(9, 9))  # not sent while reconnecting
        live.agent.kill()  # the customer closes the agent
        async with asyncio.timeout(WAIT_SECONDS):
            status = await live.host_task
        connections = proxy.connections
        proxy.accept()  # the network is back: the host must not come back with it
        async with asyncio.timeout(WAIT_SECONDS):
            outcome = await live.viewer_task  # after the relay's grace period
    assert status == 0
    assert outcome.status == 0, outcome
    assert "the customer" in outcome.message
    assert proxy.connections == connections == 1
    assert relay.relay.metrics.resumes == 0
    assert CountingBackend.injected == []
    [row] = session_rows(relay.data_dir)
    assert row["end_reason"] == "host_left"


async def test_the_customer_ending_while_the_technician_reconnects_ends_it_for_both(
    tmp_path: Path,
) -> None:
    async with session_through_proxy(tmp_path, cut="viewer") as (relay, proxy, live):
        await live.watch.frames_beyond(1)
        proxy.refuse()
        await proxy.cut()
        reconnecting = await live.host_ui.wait_for(ui.Reconnecting)
        assert not reconnecting.own_link  # the customer is told the technician is away
        live.agent.kill()
        async with asyncio.timeout(WAIT_SECONDS):
            status = await live.host_task
        proxy.accept()  # the technician's network is back: the slot is gone
        async with asyncio.timeout(WAIT_SECONDS):
            outcome = await live.viewer_task
    assert status == 0
    assert outcome.status == 0, outcome
    assert relay.relay.metrics.resumes == 0
    assert relay.relay.metrics.resumes_refused["no_session"] >= 1
    [row] = session_rows(relay.data_dir)
    assert row["end_reason"] == "host_ended"


async def test_a_consent_change_while_the_technician_is_away_reaches_both_after_the_resume(
    tmp_path: Path,
) -> None:
    async with session_through_proxy(tmp_path, cut="viewer") as (relay, proxy, live):
        await live.watch.frames_beyond(1)
        proxy.refuse()
        await proxy.cut()
        await live.host_ui.wait_for(ui.Reconnecting)
        live.agent.command(ui.ChangeLevel(messages.ConsentLevel.VIEW))  # kept for the viewer
        await live.host_ui.wait_for(ui.SharingChanged)
        proxy.accept()
        await live.host_ui.wait_for(ui.Reconnected)
        await live.watch.frames_beyond(live.watch.frames + 1)
        assert live.client.status.consent is messages.ConsentLevel.VIEW
        await live.watch.checkpoints_beyond(live.watch.checkpoints + 1)
        outcome, status = await live.finish()
    assert (outcome.status, status) == (0, 0), outcome
    ledger = Ledger(relay.data_dir)
    try:
        levels = [row["level"] for row in ledger.consent_rows()]
    finally:
        ledger.close()
    assert levels == ["control", "view"]  # reported to the relay once it was back
    assert_recordings_agree(live, relay.data_dir)
