"""The status bar's words: consent, elapsed time, running cost, frames/s, banners."""

from __future__ import annotations

from protocol import messages
from viewer.client import Phase, SessionStatus
from viewer.stats import LiveFigures
from viewer.status_bar import format_elapsed, status_line


def test_cost_runs_from_consent_at_the_default_tariff() -> None:
    status = SessionStatus(
        Phase.ACTIVE, "48213", messages.ConsentLevel.CONTROL, consent_since=100.0
    )
    line = status_line(status, LiveFigures(24.0, 18.4), monotonic_now=100.0 + 61)
    # Two started minutes at 1.40 EUR net + 19 % VAT = 3.33 EUR.
    assert "Session 48213" in line.text
    assert "view and control" in line.text
    assert "0:01:01" in line.text
    assert "€3.33 incl. VAT" in line.text
    assert "24 frames/s" in line.text and "18 ms" in line.text
    assert line.banner == ""


def test_pause_and_revocation_show_a_banner() -> None:
    paused = SessionStatus(Phase.PAUSED, "48213", messages.ConsentLevel.CONTROL, 0.0)
    assert "paused" in status_line(paused, LiveFigures(0, None), 1.0).banner
    revoked = SessionStatus(Phase.ACTIVE, "48213", messages.ConsentLevel.VIEW, 0.0)
    line = status_line(revoked, LiveFigures(0, None), 1.0, control_was_granted=True)
    assert "taken back control" in line.banner
    waiting = SessionStatus(Phase.AWAITING_CONSENT, "48213")
    assert "approval" in status_line(waiting, LiveFigures(0, None), 1.0).banner


def test_elapsed_time_format() -> None:
    assert format_elapsed(3725.9) == "1:02:05"
