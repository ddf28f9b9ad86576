"""The words of the viewer's status bar: session, consent, time, cost, frames/s, latency."""

from __future__ import annotations

from dataclasses import dataclass

from protocol import messages
from protocol.billing import bill
from viewer.client import Phase, SessionStatus
from viewer.stats import LiveFigures

CONSENT_WORDS = {
    messages.ConsentLevel.PENDING: "waiting for approval",
    messages.ConsentLevel.DENIED: "declined",
    messages.ConsentLevel.VIEW: "view only",
    messages.ConsentLevel.CONTROL: "view and control",
}


@dataclass(frozen=True, slots=True)
class StatusLine:
    text: str
    banner: str  # shown large above the screen; empty when there is nothing to warn of


def format_elapsed(seconds: float) -> str:
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, seconds_left = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds_left:02d}"


def status_line(
    status: SessionStatus,
    figures: LiveFigures,
    monotonic_now: float,
    *,
    control_was_granted: bool = False,
) -> StatusLine:
    """What the status bar and the banner say right now."""
    parts = [f"Session {status.session_number}", CONSENT_WORDS[status.consent]]
    if status.consent_since is not None:
        elapsed = monotonic_now - status.consent_since
        cost = bill(elapsed, status.tariff)
        parts += [format_elapsed(elapsed), f"{cost.gross:.2f} EUR incl. VAT"]
    parts.append(f"{figures.frames_per_second:.0f} frames/s")
    if figures.latency_ms is not None:
        parts.append(f"{figures.latency_ms:.0f} ms")
    banner = ""
    if status.phase is Phase.PAUSED:
        banner = "The customer has paused screen sharing"
    elif status.phase not in (Phase.ACTIVE, Phase.ENDED):
        banner = status.phase.value.capitalize()
    elif status.consent is messages.ConsentLevel.VIEW and control_was_granted:
        banner = "The customer has taken back control: view only"
    return StatusLine(" · ".join(parts), banner)
