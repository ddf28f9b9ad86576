"""Resuming with several relays on one real PostgreSQL, at the level of relay control: a
side that comes back at another relay is sent to the relay that holds its session while
that one is alive, and the session is taken over when it is gone; a session taken over
that nobody comes back to ends `relay_lost`. Clients are plain relay links here
(tests/e2e/test_several_relays.py runs the real host agent and viewer)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from endpoint.relays import RelayRoute, ask_relay
from protocol import control
from protocol.resume import verifier_for
from relay.database import open_database
from relay.farewell import FOR_PEOPLE
from tests.relay.conftest import Pair, pair, receive, wait_for
from tests.support.relay import RelayInfo, running_relay

SHOWN = {"technician": "Alice", "rate_per_minute": "1.40", "vat_percent": "19", "terms_hash": ""}
HOST_SECRET, VIEWER_SECRET = b"h" * 32, b"v" * 32


async def consented_with_verifiers(relay: RelayInfo, token: str) -> Pair:
    session = await pair(relay, token)
    await session.host.send_control(control.Consent(control.ReportedConsent.CONTROL, **SHOWN))
    await session.host.send_control(control.ResumeVerifier(0, verifier_for(HOST_SECRET)))
    await session.viewer.send_control(control.ResumeVerifier(0, verifier_for(VIEWER_SECRET)))
    [live] = relay.relay.rendezvous.sessions()
    await wait_for(lambda: len(live.verifiers) == 2, "both verifiers held")
    return session


def resume(number: str, secret: bytes) -> control.Resume:
    return control.Resume(session=number, epoch=0, secret=secret, version=1)


async def test_a_side_resuming_at_another_relay_is_sent_back_while_its_relay_is_alive(
    postgres_url: str, tmp_path: Path
) -> None:
    async with (
        running_relay(tmp_path / "b", database=postgres_url, relay_id="b") as b,
        running_relay(tmp_path / "a", database=postgres_url, relay_id="a") as a,
    ):
        token = await a.relay.db(a.relay.ledger.add_technician, "Alice")
        session = await consented_with_verifiers(a, token)
        await session.viewer.close()  # dropped, as far as the relay knows: its slot is kept
        assert await receive(session.host) == control.PeerReconnecting()
        route = RelayRoute(b.url, b.fingerprint)
        viewer, answer = await ask_relay(
            route, "/v1/viewer", lambda: resume(session.session, VIEWER_SECRET), token=token
        )
        assert isinstance(answer, control.Resumed) and answer.epoch == 1
        assert (route.current.url, route.current.fingerprint) == (a.url, a.fingerprint)
        assert [place.url for place in route.places()] == [a.url, b.url]
        assert b.relay.metrics.redirects["resume"] == 1 and b.relay.metrics.takeovers == 0
        assert isinstance(await receive(session.host), control.Resumed)
        await viewer.close()
        await session.host.close()


async def test_a_stopped_relays_session_is_taken_over_and_ends_relay_lost_if_one_side_stays_away(
    postgres_url: str, tmp_path: Path
) -> None:
    async with running_relay(
        tmp_path / "b", database=postgres_url, relay_id="b", resume_grace_seconds=1.0
    ) as b:
        async with running_relay(tmp_path / "a", database=postgres_url, relay_id="a") as a:
            token = await a.relay.db(a.relay.ledger.add_technician, "Alice")
            session = await consented_with_verifiers(a, token)
        # A stopped (as for an update): the session was kept open in the ledger for its
        # sides, and A is gone as far as the other relays know.
        route = RelayRoute(a.url, a.fingerprint)
        route.learn([control.OtherRelay(b.url, b.fingerprint or "")])
        host, answer = await ask_relay(
            route, "/v1/host", lambda: resume(session.session, HOST_SECRET), place=route.places()[1]
        )
        assert answer == control.PeerReconnecting()  # back, the viewer is still away
        assert route.current.url == b.url and b.relay.metrics.takeovers == 1
        # Nobody else comes back within B's grace period.
        assert await receive(host) == control.PeerLeft(reason=FOR_PEOPLE["relay_lost"])
        await host.close()
        await session.close()

    def rows() -> list[dict]:
        database = open_database(postgres_url, data_dir=tmp_path / "check")
        try:
            return database.session_rows()
        finally:
            database.close()

    [row] = await asyncio.to_thread(rows)
    assert (row["relays"], row["relay_id"], row["end_reason"]) == ("a b", "b", "relay_lost")
