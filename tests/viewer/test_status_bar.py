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


def test_a_session_that_ended_before_any_approval_does_not_say_it_waits() -> None:
    # Seen on the German viewer's end screen (relay unreachable): "wartet auf Zustimmung"
    # and the recording dot after the run had ended.
    from viewer.texts import ViewerTexts

    ended = SessionStatus(Phase.ENDED, "123456")
    line = status_line(ended, LiveFigures(0.0, None), 0.0, texts=ViewerTexts("de"))
    assert "wartet" not in line.text and "Sitzung beendet" in line.text


def test_the_links_sentences_reach_the_technician_in_german() -> None:
    from viewer.texts import ViewerTexts, translate_reason

    german = ViewerTexts("de")
    said = translate_reason(
        "cannot reach the relay at wss://127.0.0.1:48329 (ConnectionRefusedError)", german
    )
    assert said == "das Relay unter wss://127.0.0.1:48329 antwortet nicht (ConnectionRefusedError)"
    assert "abgelehnt" in translate_reason("the relay refused this technician token", german)
