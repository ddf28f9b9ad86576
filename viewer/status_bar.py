"""The words of the viewer's status bar: session, consent, time, cost, frames/s, latency."""

from __future__ import annotations

from dataclasses import dataclass

from protocol import messages
from protocol.billing import bill
from viewer.client import Phase, SessionStatus
from viewer.stats import LiveFigures
from viewer.texts import ViewerTexts

CONSENT_KEYS = {
    messages.ConsentLevel.PENDING: "consent_pending",
    messages.ConsentLevel.DENIED: "consent_denied",
    messages.ConsentLevel.VIEW: "consent_view",
    messages.ConsentLevel.CONTROL: "consent_control",
}
PHASE_KEYS = {phase: f"phase_{phase.name.lower()}" for phase in Phase}
ENGLISH = ViewerTexts("en")


@dataclass(frozen=True, slots=True)
class StatusLine:
    text: str
    banner: str  # shown large above the screen; empty when there is nothing to warn of


def format_elapsed(seconds: float) -> str:
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, seconds_left = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds_left:02d}"


def phase_text(status: SessionStatus, texts: ViewerTexts) -> str:
    """The phase in words (waiting for consent names the price)."""
    return texts(PHASE_KEYS[status.phase], price=texts.price(status.tariff))


def status_line(
    status: SessionStatus,
    figures: LiveFigures,
    monotonic_now: float,
    *,
    control_was_granted: bool = False,
    texts: ViewerTexts = ENGLISH,
) -> StatusLine:
    """What the status bar and the banner say right now."""
    t = texts
    consent = t(CONSENT_KEYS[status.consent])
    if status.phase is Phase.ENDED and status.consent is messages.ConsentLevel.PENDING:
        consent = phase_text(status, t)  # never approved: not "waiting" any more
    parts = [t("status_session", number=status.session_number), consent]
    if status.consent_since is not None:
        elapsed = monotonic_now - status.consent_since
        cost = bill(elapsed, status.tariff)
        parts += [format_elapsed(elapsed), t("status_cost", gross=t.money(cost.gross))]
    parts.append(t("status_fps", fps=f"{figures.frames_per_second:.0f}"))
    if figures.latency_ms is not None:
        parts.append(t("status_latency", ms=f"{figures.latency_ms:.0f}"))
    banner = ""
    if status.phase is not Phase.ACTIVE and status.phase is not Phase.ENDED:
        banner = phase_text(status, t)
    elif status.consent is messages.ConsentLevel.VIEW and control_was_granted:
        banner = t("control_taken_back")
    return StatusLine(" · ".join(parts), banner)
