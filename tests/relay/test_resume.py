"""The relay's side of resuming: who may take a slot back, and the session's state machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from endpoint.relay_link import open_link
from host_agent import events as ui
from protocol import PROTOCOL_VERSION, control
from protocol.control import ReportedConsent
from protocol.errors import NotAuthorised, ResumeRefused
from protocol.handshake import Role
from protocol.resume import resume_secret, verifier_for
from relay.ledger import Ledger
from relay.pairing import RelaySession, SessionState, Side
from tests.support.relay import revoke_technician
from tests.support.resume_sessions import (
    TECHNICIAN,
    session_rows,
    session_through_proxy,
    wait_for_host_resumed,
)
from viewer.client import Phase
from viewer.outcome import ExitStatus


async def attempt_resume(url: str, fingerprint: str | None, path: str, resume: control.Resume):
    """One resume attempt on a fresh link; what the relay answered (or raised)."""
    link = await open_link(url, path, fingerprint_pin=fingerprint)
    try:
        await link.send_control(resume)
        return await link.receive()
    finally:
        await link.close()


async def test_a_wrong_or_stale_secret_is_refused_and_the_real_side_still_resumes(
    tmp_path: Path,
) -> None:
    async with session_through_proxy(tmp_path, cut="host") as (relay, proxy, live):
        session = live.agent.wire.session  # the test plays a thief with its keys
        assert session is not None and session.keys is not None
        number = session.session_number

        def resume(epoch: int, secret: bytes) -> control.Resume:
            return control.Resume(
                session=number, epoch=epoch, secret=secret, version=PROTOCOL_VERSION
            )

        with pytest.raises(ResumeRefused):  # a guessed secret, while the host is connected
            await attempt_resume(
                relay.url, relay.fingerprint, "/v1/host", resume(0, os.urandom(32))
            )
        await proxy.cut()
        await wait_for_host_resumed(live)
        # The epoch-0 secret was used by the real host's resume: it is stale now.
        stale = resume_secret(session.keys, Role.HOST, 0)
        with pytest.raises(ResumeRefused):
            await attempt_resume(relay.url, relay.fingerprint, "/v1/host", resume(0, stale))
        # The viewer's path needs a technician's token before any secret is even read.
        with pytest.raises(NotAuthorised):
            await attempt_resume(relay.url, relay.fingerprint, "/v1/viewer", resume(1, stale))
        frames = live.watch.frames
        await live.watch.frames_beyond(frames)  # the real session went on all the time
        await proxy.cut()  # the genuine host can still resume, with the new epoch's secret
        await wait_for_host_resumed(live)
        await live.watch.frames_beyond(live.watch.frames + 1)
        outcome, status = await live.finish()
    assert (outcome.status, status) == (0, 0), outcome
    metrics = relay.relay.metrics
    assert metrics.resumes == 2
    assert metrics.resumes_refused["wrong_secret"] == 2
    assert 'resumes_refused_total{reason="wrong_secret"} 2' in metrics.render(relay.relay.gauges)


async def test_a_revoked_technician_cannot_resume(tmp_path: Path) -> None:
    async with session_through_proxy(tmp_path, cut="viewer", resume_grace_seconds=2.0) as (
        relay,
        proxy,
        live,
    ):
        proxy.refuse()
        await proxy.cut()
        await live.watch.phase(Phase.RECONNECTING)
        await live.host_ui.wait_for(ui.Reconnecting)
        # Revoked while away: the session ends at once (the revocation notice), and the
        # technician's token is refused when the viewer comes back.
        revoke_technician(relay.data_dir, TECHNICIAN)
        proxy.accept()
        outcome = await live.viewer_task
        status = await live.host_task
    assert outcome.status is ExitStatus.NOT_AUTHORISED, outcome
    assert status == 0
    [row] = session_rows(relay.data_dir)
    assert row["end_reason"] == "revoked"


# ---- the session state machine, without sockets ---------------------------------------


def paired_with_consent() -> RelaySession:
    session = RelaySession(number="482139", host="host-1", registered_at=0.0, expires_at=600.0)
    session.pair("viewer-1", 7, "Erika", now=1.0)
    session.record_consent(ReportedConsent.CONTROL)
    return session


def test_a_dropped_side_keeps_its_slot_only_with_consent_and_a_verifier() -> None:
    session = RelaySession(number="482139", host="host-1", registered_at=0.0, expires_at=600.0)
    session.pair("viewer-1", 7, "Erika", now=1.0)
    assert session.store_verifier(Side.VIEWER, 0, verifier_for(b"v" * 32))
    assert not session.may_resume(Side.VIEWER)  # no consent yet: a retry joins anew
    session.record_consent(ReportedConsent.VIEW)
    assert session.may_resume(Side.VIEWER) and not session.may_resume(Side.HOST)


def test_a_resume_uses_the_secret_once_and_moves_both_to_the_next_epoch() -> None:
    session = paired_with_consent()
    host_secret, viewer_secret = b"h" * 32, b"v" * 32
    session.store_verifier(Side.HOST, 0, verifier_for(host_secret))
    session.store_verifier(Side.VIEWER, 0, verifier_for(viewer_secret))
    session.await_resume(Side.HOST, now=5.0, grace_seconds=60.0)
    assert session.state is SessionState.AWAITING_RESUME
    assert session.away() == [Side.HOST] and session.resume_deadline == 65.0
    assert not session.resume_matches(Side.HOST, 0, viewer_secret)  # the other side's
    assert not session.resume_matches(Side.HOST, 1, host_secret)  # another epoch
    assert session.resume_matches(Side.HOST, 0, host_secret)
    assert session.reattach(Side.HOST, "host-2", now=6.0)
    assert session.state is SessionState.PAIRED and session.epoch == 1
    assert not session.resume_matches(Side.HOST, 0, host_secret)  # stale now
    # Until each side gives its verifier for epoch 1 its frames are of the old epoch.
    assert not session.forwards_from(Side.HOST) and not session.forwards_from(Side.VIEWER)
    assert not session.store_verifier(Side.HOST, 0, verifier_for(host_secret))  # too late
    assert session.store_verifier(Side.HOST, 1, verifier_for(b"n" * 32))
    assert session.forwards_from(Side.HOST) and not session.forwards_from(Side.VIEWER)


def test_when_both_are_away_the_first_back_waits_for_the_other() -> None:
    session = paired_with_consent()
    session.store_verifier(Side.HOST, 0, verifier_for(b"h" * 32))
    session.store_verifier(Side.VIEWER, 0, verifier_for(b"v" * 32))
    session.await_resume(Side.VIEWER, now=5.0, grace_seconds=60.0)
    session.await_resume(Side.HOST, now=30.0, grace_seconds=60.0)
    assert session.away() == [Side.HOST, Side.VIEWER]
    assert session.resume_deadline == 65.0  # the grace period does not start again
    assert not session.reattach(Side.VIEWER, "viewer-2", now=31.0)
    assert session.state is SessionState.AWAITING_RESUME
    assert session.reattach(Side.HOST, "host-2", now=32.0)
    assert session.epoch == 1


def test_the_ledger_keeps_verifiers_of_open_consented_sessions_for_a_restart(
    tmp_path: Path,
) -> None:
    ledger = Ledger(tmp_path)
    try:
        kept, lost = ledger.open_session("111111"), ledger.open_session("222222")
        for row in (kept, lost):
            ledger.mark_paired(row, "Erika", "")
            ledger.record_consent(row, control.Consent(level=ReportedConsent.VIEW))
            ledger.store_verifier(row, "host", 0, b"\x01" * 32)
        ledger.store_verifier(kept, "viewer", 2, b"\x02" * 32)
        [resumable] = ledger.resumable_sessions()
        assert resumable.id == kept
        assert resumable.verifiers == {"host": (0, b"\x01" * 32), "viewer": (2, b"\x02" * 32)}
        assert ledger.close_open_sessions("relay_restarted", keep=[kept]) == 1
        ledger.forget_verifier(kept, "viewer")
        assert ledger.resumable_sessions() == []
        ledger.close_session(kept, "viewer_ended", 1, 2)
        with ledger.backend.transaction() as tx:
            assert tx.one("SELECT COUNT(*) FROM resume_verifiers") == (0,)
    finally:
        ledger.close()
