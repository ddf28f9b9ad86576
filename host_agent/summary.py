"""What the customer reads when a session is over: who ended it and why, how long the
screen was shared, what it costs, where the recording is, and after a failure what to do.

The agent hands the UI one `Ended` event made here; both UIs show all of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from host_agent.events import Ended
from host_agent.texts import Texts
from protocol.billing import Rounding, Tariff, bill, format_percent
from protocol.peer_text import one_line

# Reasons that are failures, with what the customer should do about them.
ADVICE = {
    "reason_relay_unreachable": "advice_relay_unreachable",
    "reason_certificate": "advice_certificate",
    "reason_relay_lost": "advice_call_provider",
    "reason_error": "advice_call_provider",
    "reason_recording_failed": "advice_call_provider",
}
# What a viewer says in its Bye when nothing more is to be said (the headline says it).
PLAIN_TECHNICIAN_REASONS = frozenset(
    {"", "the technician ended the session", "the technician closed the viewer"}
)
MAX_PEER_REASON_CHARS = 200


@dataclass(frozen=True, slots=True)
class EndFacts:
    """What the agent knows at the end, for the summary."""

    reason_key: str
    values: dict[str, object]
    shared_seconds: float | None  # from the customer's consent to the end; None: never
    tariff: Tariff
    recording: Path | None  # the customer's own recording, if one was written
    recording_declined: bool  # the customer chose --no-record
    technician_reason: str = ""  # what the viewer gave as its reason (peer text)


def end_summary(texts: Texts, facts: EndFacts) -> Ended:
    t = texts
    details: list[str] = []
    peer = one_line(facts.technician_reason, MAX_PEER_REASON_CHARS)
    if peer not in PLAIN_TECHNICIAN_REASONS:
        details.append(t("end_technician_reason", reason=peer))
    if facts.shared_seconds is None:
        details.append(t("end_not_shared"))
    else:
        cost = bill(facts.shared_seconds, facts.tariff)
        details.append(t("end_duration", duration=t.span(facts.shared_seconds)))
        details.append(
            t(
                "end_cost",
                net=t.money(cost.net),
                vat=t.money(cost.vat),
                vat_percent=format_percent(facts.tariff.vat_percent, t.language),
                gross=t.money(cost.gross),
                minutes=_minutes(t, cost.minutes, facts.tariff.rounding),
            )
        )
        details.append(t("end_tariff", price=t.price(facts.tariff)))
    if facts.recording is not None:
        details.append(t("end_recording", path=str(facts.recording)))
    elif facts.recording_declined:
        details.append(t("end_not_recorded"))
    advice = ADVICE.get(facts.reason_key)
    no_connection = facts.reason_key in ("reason_relay_unreachable", "reason_certificate")
    return Ended(
        reason=t(facts.reason_key, **facts.values),
        title=t("error_title") if no_connection else t("end_title"),
        details=tuple(details),
        advice=t(advice) if advice else "",
        failed=advice is not None,
    )


def _minutes(texts: Texts, minutes: Decimal, rounding: Rounding) -> str:
    if rounding is Rounding.PER_STARTED_MINUTE or minutes == minutes.to_integral_value():
        return texts.span(int(minutes) * 60)
    text = f"{minutes:.2f}"
    unit = "Minuten" if texts.language == "de" else "minutes"
    return (text.replace(".", ",") if texts.language == "de" else text) + " " + unit
