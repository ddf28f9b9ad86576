"""The real relay on PostgreSQL: sessions stream on while the database is stopped and their
rows are complete once it is back; new sessions are refused meanwhile; a revocation on one
relay cuts a session on another; `fernwartung relay --database` registers itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from protocol import control
from protocol.errors import NotAuthorised, RelayUnreachable, SessionEnded
from relay.database import open_database
from relay.database.upkeep import RELAY_ID_FILE
from tests.relay.conftest import Streamer, host_link, pair, receive, viewer_link, wait_for
from tests.support.postgres import PostgresServer
from tests.support.relay import RelayInfo, running_relay, start_relay_process, stop_relay_process

SHOWN = {"technician": "Alice", "rate_per_minute": "1.40", "vat_percent": "19", "terms_hash": ""}


async def add_technician(relay: RelayInfo, name: str) -> str:
    return await relay.relay.db(relay.relay.ledger.add_technician, name)


async def rows(url: str, data_dir: Path) -> tuple[list[dict], list[dict]]:
    """(sessions, checkpoints) read with a database object of its own, off the loop."""

    def read() -> tuple[list[dict], list[dict]]:
        database = open_database(url, data_dir=data_dir, read_only=True)
        try:
            return database.session_rows(), database.checkpoint_rows()
        finally:
            database.close()

    return await asyncio.to_thread(read)


async def test_sessions_stream_through_a_database_outage_and_their_rows_are_complete_after(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    async with running_relay(tmp_path / "a", database=postgres_url, relay_id="a") as relay:
        token = await add_technician(relay, "Alice")
        streaming = await pair(relay, token, customer="K-1")
        await streaming.host.send_control(control.Consent(control.ReportedConsent.VIEW, **SHOWN))
        head = bytes(range(32))
        try:
            async with Streamer(streaming) as stream:
                await asyncio.to_thread(postgres_server.stop)
                await stream.progressed(by=20)
                await streaming.host.send_control(control.Checkpoint(records=5, head=head))
                await streaming.host.send_control(
                    control.Consent(control.ReportedConsent.CONTROL, **SHOWN)
                )
                await stream.progressed(by=20)
                newcomer = await host_link(relay)
                await newcomer.send_control(control.Register(version=1))
                with pytest.raises(SessionEnded, match="Datenbank.*database"):
                    await receive(newcomer)
                await stream.progressed(by=20)
                await streaming.viewer.send_control(control.Checkpoint(records=6, head=head))
                await stream.progressed(by=5)
            # (leaving the block closed both sides: the session ended during the outage)
            await wait_for(lambda: relay.relay.rendezvous.sessions() == [], "ended")
            # (the writes of the outage wait; those just before it may wait with them)
            await wait_for(lambda: relay.relay.ledger.pending_writes >= 4, "4 writes wait")
            await asyncio.to_thread(postgres_server.start)
        finally:
            if not postgres_server.running:
                await asyncio.to_thread(postgres_server.start)
        async with asyncio.timeout(15):
            while relay.relay.ledger.pending_writes:
                await asyncio.sleep(0.05)
        sessions, checkpoints = await rows(postgres_url, tmp_path / "check")
        [row] = sessions
        assert row["end_reason"] in ("host_left", "viewer_left")
        assert (row["consent_level"], row["relay_id"]) == ("control", "a")
        assert row["bytes_host_to_viewer"] > 60 * 16384 and row["customer"] == "K-1"
        assert [(c["side"], c["records"]) for c in checkpoints] == [("host", 5), ("viewer", 6)]


async def test_a_technician_revoked_on_one_relay_is_cut_off_on_another(
    postgres_url: str, tmp_path: Path
) -> None:
    async with (
        running_relay(tmp_path / "a", database=postgres_url, relay_id="a",
                      revocation_sweep_seconds=0.1) as a,
        running_relay(tmp_path / "b", database=postgres_url, relay_id="b") as b,
    ):  # fmt: skip
        token = await add_technician(a, "Alice")
        session = await pair(a, token)
        await b.relay.db(b.relay.ledger.revoke_technician, "Alice")
        with pytest.raises(NotAuthorised):
            while True:
                await receive(session.viewer)
        await session.close()
        with pytest.raises(Exception):  # noqa: B017,PT011 - refused at the door of either relay
            await pair(b, token)


def test_the_relay_command_on_postgresql_registers_itself(
    postgres_url: str, tmp_path: Path
) -> None:
    process, url, fingerprint = start_relay_process(
        tmp_path, "--database", postgres_url, "--public-url", "wss://relay-a.example:8765"
    )
    relay_id = (tmp_path / RELAY_ID_FILE).read_text().strip()
    database = open_database(postgres_url, data_dir=tmp_path / "check")
    try:
        [record] = database.relays(now=__import__("time").time(), stale_after=10.0)
        assert (record.id, record.public_url, record.fingerprint, record.alive) == (
            relay_id, "wss://relay-a.example:8765", fingerprint, True,
        )  # fmt: skip

        async def one_session() -> str:
            host = await host_link(RelayInfo(url, fingerprint, tmp_path, None))  # type: ignore[arg-type]
            await host.send_control(control.Register(version=1))
            registered = await receive(host)
            await host.close()
            assert isinstance(registered, control.Registered)
            return registered.session

        number = asyncio.run(one_session())
    finally:
        assert stop_relay_process(process) == 0
    try:
        [row] = database.session_rows()
        assert (row["session"], row["relay_id"], row["end_reason"]) == (
            number,
            relay_id,
            "host_left",
        )
        [record] = database.relays(now=__import__("time").time(), stale_after=10.0)
        assert not record.alive  # retired at stop: another relay may take over at once
    finally:
        database.close()


def test_an_unreachable_database_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    import subprocess
    import sys

    secret = "s3cret-Passw0rd"
    url = f"postgresql://fernwartung:{secret}@/nowhere?host={tmp_path}&port=5999"
    result = subprocess.run(
        [sys.executable, "-m", "fernwartung", "relay", "--listen", "127.0.0.1:0", "--no-tls",
         "--data-dir", str(tmp_path / "d"), "--database", url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot reach the PostgreSQL database nowhere" in result.stderr
    assert secret not in result.stderr + result.stdout


async def test_a_token_the_database_cannot_check_is_answered_503_and_one_seen_lately_passes(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    async with running_relay(tmp_path / "a", database=postgres_url, relay_id="a") as relay:
        unseen = await add_technician(relay, "Alice")
        seen = await add_technician(relay, "Bob")
        await (await viewer_link(relay, seen)).close()  # the relay remembers Bob's token
        await asyncio.to_thread(postgres_server.stop)
        try:
            with pytest.raises(RelayUnreachable, match="HTTP 503"):
                await viewer_link(relay, unseen)
            await (await viewer_link(relay, seen)).close()
        finally:
            await asyncio.to_thread(postgres_server.start)
        # (a client tries a 503 again for a few seconds: the relay may just be busy)
        assert relay.relay.metrics.connections_refused_http["503"] >= 1


async def test_when_the_waiting_writes_fill_their_queue_every_session_ends(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    async with running_relay(tmp_path / "a", database=postgres_url, relay_id="a") as relay:
        token = await add_technician(relay, "Alice")
        session = await pair(relay, token)
        await session.host.send_control(control.Consent(control.ReportedConsent.VIEW, **SHOWN))
        relay.relay.ledger._writes.max_writes = 3  # noqa: SLF001 - a small queue for the test
        await asyncio.to_thread(postgres_server.stop)
        try:
            for records in range(1, 6):
                await session.host.send_control(control.Checkpoint(records, bytes(32)))
            for link in (session.host, session.viewer):
                with pytest.raises(SessionEnded, match="Datenbank.*database"):
                    while True:
                        await receive(link)
        finally:
            await asyncio.to_thread(postgres_server.start)
        async with asyncio.timeout(15):
            while relay.relay.ledger.pending_writes:
                await asyncio.sleep(0.05)  # the upkeep sends what waited
    sessions, checkpoints = await rows(postgres_url, tmp_path / "check")
    [row] = sessions
    assert (row["end_reason"], row["consent_level"]) == ("database_unavailable", "view")
    kept = [c["records"] for c in checkpoints]
    assert kept == list(range(1, len(kept) + 1)) and len(kept) < 5  # the rest could not be
