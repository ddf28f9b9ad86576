"""Several relays on one real PostgreSQL (issue 24): two relays on loopback, each with its
own self-signed certificate.

- a viewer that enters at relay B is sent to relay A, which holds the session, and no try
  of the code is counted for it;
- a technician revoked on B is cut off on A at once, by the revocation notice (the sweep
  is set to an hour);
- relay A killed with SIGKILL mid-session: host and viewer resume on B within the grace
  period, frames flow again, both recordings verify against the shared ledger, whose row
  names both relays;
- the database stopped for 10 s while sessions stream on both relays: every row complete
  afterwards;
- the three tries of a code, and the join rate limit, hold across relays.

Host agent (synthetic screen) and viewer run in this event loop
(tests/support/resume_sessions.py); the relays run in it too, or as processes where one is
killed.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import time
from pathlib import Path

import pytest

from endpoint.relay_link import RelayLink
from endpoint.relays import RelayRoute, ask_relay
from protocol import control
from protocol.errors import CodeVoid, NotAuthorised, SessionEnded
from relay.database import Database, open_database
from relay.limits import RateLimit
from tests.relay.conftest import (
    Streamer,
    host_link,
    pair,
    receive,
    viewer_link,
    wait_for,
)
from tests.support.postgres import PostgresServer
from tests.support.relay import RelayInfo, running_relay, start_relay_process, stop_relay_process
from tests.support.resume_sessions import (
    TECHNICIAN,
    WAIT_SECONDS,
    assert_recordings_agree,
    live_session,
    wait_for_host_resumed,
)

SHOWN = {"technician": "Alice", "rate_per_minute": "1.40", "vat_percent": "19", "terms_hash": ""}
OUTAGE_SECONDS = 10.0


async def technician(url: str, tmp_path: Path, name: str) -> str:
    """Add a technician to the shared database (off the loop); their token."""
    return await asyncio.to_thread(
        _with_database, url, tmp_path, lambda db: db.add_technician(name)
    )


def _with_database(url: str, tmp_path: Path, action):  # noqa: ANN001, ANN202
    database = open_database(url, data_dir=tmp_path / "tool")
    try:
        return action(database)
    finally:
        database.close()


async def session_rows(url: str, tmp_path: Path) -> list[dict]:
    return await asyncio.to_thread(_with_database, url, tmp_path, Database.session_rows)


def two_relays(url: str, tmp_path: Path, **settings: object):  # noqa: ANN201
    """Relays "b" and then "a" (so that each knows the other when a session starts)."""
    b = running_relay(tmp_path / "b", database=url, relay_id="b", **settings)
    a = running_relay(tmp_path / "a", database=url, relay_id="a", **settings)
    return a, b


async def test_a_viewer_entering_at_another_relay_is_sent_to_the_session_without_a_try(
    postgres_url: str, tmp_path: Path
) -> None:
    a_relay, b_relay = two_relays(postgres_url, tmp_path)
    async with b_relay as b, a_relay as a:
        assert a.fingerprint != b.fingerprint  # each relay its own certificate
        token = await technician(postgres_url, tmp_path, TECHNICIAN)
        async with live_session(
            tmp_path, a.data_dir, a.fingerprint, host_url=a.url, viewer_url=b.url,
            token=token, viewer_fingerprint=b.fingerprint,
        ) as live:  # fmt: skip
            await live.watch.frames_beyond(2)
            # The viewer is on A now, pinned to A's certificate as B told it.
            assert (live.client.relays.current.url, live.client.relays.current.fingerprint) == (
                a.url,
                a.fingerprint,
            )
            outcome, status = await live.finish()
        assert (outcome.status, status) == (0, 0), outcome
        assert b.relay.metrics.redirects["join"] == 1 and b.relay.metrics.joins == 0
        assert a.relay.metrics.joins == 1 and a.relay.metrics.failed_attempts == 0
    [row] = await session_rows(postgres_url, tmp_path)
    assert (row["relay_id"], row["relays"], row["failed_attempts"]) == ("a", "a", 0)
    assert row["technician"] == TECHNICIAN and row["end_reason"] == "viewer_ended"


async def test_a_technician_revoked_on_one_relay_is_cut_off_on_another_by_the_notice(
    postgres_url: str, tmp_path: Path
) -> None:
    log = io.StringIO()
    async with (
        running_relay(tmp_path / "b", database=postgres_url, relay_id="b",
                      revocation_sweep_seconds=3600.0) as b,
        running_relay(tmp_path / "a", database=postgres_url, relay_id="a", log_to=log,
                      revocation_sweep_seconds=3600.0) as a,
    ):  # fmt: skip
        token = await technician(postgres_url, tmp_path, "Alice")
        session = await pair(a, token)
        await session.host.send_control(control.Consent(control.ReportedConsent.VIEW, **SHOWN))
        await b.relay.db(b.relay.ledger.revoke_technician, "Alice")
        with pytest.raises(NotAuthorised):  # the relay's error `revoked`, bounded by receive
            while True:
                await receive(session.viewer)
        told = await receive(session.host)
        assert told == control.PeerLeft(reason="the technician's access was revoked")
        await session.close()
        assert "found_by=notice" in log.getvalue()
        with pytest.raises(NotAuthorised):  # refused at the door of either relay
            await viewer_link(b, token)
    [row] = await session_rows(postgres_url, tmp_path)
    assert row["end_reason"] == "revoked"


def crash(process: subprocess.Popen[str]) -> None:
    process.kill()  # SIGKILL: no goodbye, nothing saved but what the database holds
    process.wait()


async def test_a_session_whose_relay_is_killed_goes_on_at_the_other_relay(
    postgres_url: str, tmp_path: Path
) -> None:
    common = ("--database", postgres_url, "--resume-grace-seconds", "30")
    b_process, b_url, b_pin = await asyncio.to_thread(
        start_relay_process, tmp_path / "b", *common, "--relay-id", "b"
    )
    a_process = None
    try:
        a_process, a_url, a_pin = await asyncio.to_thread(
            start_relay_process, tmp_path / "a", *common, "--relay-id", "a"
        )
        token = await technician(postgres_url, tmp_path, TECHNICIAN)
        async with live_session(
            tmp_path, tmp_path / "a", a_pin, host_url=a_url, viewer_url=a_url, token=token
        ) as live:
            # Both sides were told of B (with its pin) by A.
            for route in (live.agent.relays, live.client.relays):
                assert [(p.url, p.fingerprint) for p in route.places()] == [
                    (a_url, a_pin),
                    (b_url, b_pin),
                ]
            await live.watch.checkpoints_beyond(1)  # the ledger holds some of A's
            await asyncio.to_thread(crash, a_process)
            await wait_for_host_resumed(live)
            await live.watch.frames_beyond(live.watch.frames + 2)  # frames flow again
            await live.watch.checkpoints_beyond(live.watch.checkpoints + 1)
            assert live.agent.relays.current.url == live.client.relays.current.url == b_url
            outcome, status = await live.finish()
    finally:
        if a_process is not None:
            await asyncio.to_thread(stop_relay_process, a_process)
        assert await asyncio.to_thread(stop_relay_process, b_process) == 0
    assert (outcome.status, status) == (0, 0), outcome
    [row] = await session_rows(postgres_url, tmp_path)
    assert (row["relays"], row["relay_id"], row["end_reason"]) == ("a b", "b", "viewer_ended")
    assert_recordings_agree(live, None, database=postgres_url)
    # The command an operator runs says the same.
    assert live.viewer_recording.path is not None
    verified = subprocess.run(
        [sys.executable, "-m", "fernwartung", "recording", "verify",
         str(live.viewer_recording.path), "--database", postgres_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr


async def test_sessions_on_two_relays_stream_through_a_database_outage_and_every_row_is_complete(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    a_relay, b_relay = two_relays(postgres_url, tmp_path)
    head = bytes(range(32))
    async with b_relay as b, a_relay as a:
        token = await technician(postgres_url, tmp_path, "Alice")
        sessions = {
            "a": await pair(a, token, customer="K-A"),
            "b": await pair(b, token, customer="K-B"),
        }
        for session in sessions.values():
            await session.host.send_control(
                control.Consent(control.ReportedConsent.CONTROL, **SHOWN)
            )
            await session.host.send_control(control.Checkpoint(records=1, head=head))
        records = 2
        try:
            async with Streamer(sessions["a"]) as on_a:
                async with Streamer(sessions["b"]) as on_b:
                    await asyncio.to_thread(postgres_server.stop)
                    stopped_at = time.monotonic()
                    # The outage lasts OUTAGE_SECONDS while both stream and report checkpoints.
                    while time.monotonic() < stopped_at + OUTAGE_SECONDS:
                        await asyncio.gather(on_a.progressed(by=10), on_b.progressed(by=10))
                        for session in sessions.values():
                            await session.viewer.send_control(
                                control.Checkpoint(records=records, head=head)
                            )
                        records += 1
                # (leaving the block closed B's session: it ended during the outage)
                newcomer = await host_link(a)
                await newcomer.send_control(control.Register(version=1))
                with pytest.raises(SessionEnded, match="Datenbank.*database"):
                    await receive(newcomer)
                await asyncio.to_thread(postgres_server.start)
                await on_a.progressed(by=10)
            # (and A's ends once the database is back)
        finally:
            if not postgres_server.running:
                await asyncio.to_thread(postgres_server.start)
        for relay in (a, b):
            await wait_for(lambda r=relay: r.relay.rendezvous.sessions() == [], "all ended")
        async with asyncio.timeout(WAIT_SECONDS):
            while a.relay.ledger.pending_writes or b.relay.ledger.pending_writes:
                await asyncio.sleep(0.05)  # the relays' upkeep sends what waited
    rows = {row["relay_id"]: row for row in await session_rows(postgres_url, tmp_path)}
    checkpoints = await asyncio.to_thread(_with_database, postgres_url, tmp_path,
                                          Database.checkpoint_rows)  # fmt: skip
    assert set(rows) == {"a", "b"}
    for relay_id, row in rows.items():
        assert row["end_reason"] in ("host_left", "viewer_left")
        assert row["customer"] == f"K-{relay_id.upper()}" and row["consent_level"] == "control"
        assert row["consent_granted"] <= row["ended"] and row["bytes_host_to_viewer"] > 0
        reported = [(c["side"], c["records"]) for c in checkpoints if c["session_id"] == row["id"]]
        assert reported == [("host", 1), *(("viewer", n) for n in range(2, records))]
    assert rows["b"]["ended"] < rows["a"]["ended"]  # B's end kept the time it happened


async def guess(entry: RelayInfo, token: str, number: str) -> tuple[RelayRoute, RelayLink]:
    """A viewer that joins `number` at relay `entry`, following a redirect."""
    route = RelayRoute(entry.url, entry.fingerprint)
    link, answer = await ask_relay(
        route, "/v1/viewer", lambda: control.Join(session=number, version=1), token=token
    )
    assert isinstance(answer, control.Joined)
    return route, link


async def test_the_three_tries_of_a_code_hold_across_relays(
    postgres_url: str, tmp_path: Path
) -> None:
    a_relay, b_relay = two_relays(postgres_url, tmp_path)
    async with b_relay as b, a_relay as a:
        token = await technician(postgres_url, tmp_path, "Mallory")
        host = await host_link(a)
        await host.send_control(control.Register(version=1))
        registered = await receive(host)
        assert isinstance(registered, control.Registered)
        number = registered.session
        for attempt, entry in enumerate((b, a, b), start=1):
            route, guesser = await guess(entry, token, number)
            assert route.current.url == a.url  # always where the session is
            assert isinstance(await receive(host), control.PeerJoined)
            await host.send_control(control.FailedAttempt())  # its code check failed
            if attempt < 3:
                assert isinstance(await receive(host), control.PeerLeft)
                with pytest.raises(SessionEnded):  # the relay closed the guesser's link
                    await receive(guesser)
            else:
                assert await receive(host) == control.Void()
                with pytest.raises(CodeVoid):
                    await receive(guesser)
        for entry in (b, a):  # void on either relay
            with pytest.raises(CodeVoid):
                await guess(entry, token, number)
        assert b.relay.metrics.redirects["join"] == 2 and b.relay.metrics.failed_attempts == 0
        assert a.relay.metrics.failed_attempts == 3
    [row] = await session_rows(postgres_url, tmp_path)
    assert (row["failed_attempts"], row["end_reason"]) == (3, "void")


async def test_the_join_rate_limit_of_a_technician_holds_across_relays(
    postgres_url: str, tmp_path: Path
) -> None:
    a_relay, b_relay = two_relays(
        postgres_url, tmp_path, join_per_token=RateLimit(per_minute=1.0, burst=2)
    )
    async with b_relay as b, a_relay as a:
        token = await technician(postgres_url, tmp_path, "Mallory")

        async def join(relay: RelayInfo) -> str:
            link = await viewer_link(relay, token)
            await link.send_control(control.Join(session="100000", version=1))
            try:
                await receive(link)
            except (CodeVoid, SessionEnded) as refused:
                return str(refused)
            finally:
                await link.close()
            return "joined"

        assert "no session" in await join(a)
        assert "no session" in await join(b)
        assert "too many joins" in await join(a)  # the third, wherever it goes
        assert "too many joins" in await join(b)
