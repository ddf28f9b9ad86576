"""What the agent tells a customer UI, and what a customer UI asks of the agent.

Both UIs (Tk and terminal) speak only these; the agent never calls a UI toolkit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from host_agent.consent import ConsentView
from protocol.billing import Tariff
from protocol.messages import ConsentLevel

# -- agent -> UI --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connecting:
    pass


@dataclass(frozen=True, slots=True)
class CodeReady:
    spoken: str  # the code grouped for reading aloud; shown, never logged
    expires_in_seconds: int
    why_new: str | None = None  # a text key of texts.py when this replaces an older code


@dataclass(frozen=True, slots=True)
class WrongCodeTried:
    tries: int
    limit: int


@dataclass(frozen=True, slots=True)
class TechnicianConnecting:
    technician: str


@dataclass(frozen=True, slots=True)
class ConsentAsked:
    technician: str
    rate_per_minute: Decimal
    tariff: Tariff = Tariff()  # the operator's: the question words it (Texts.price)


@dataclass(frozen=True, slots=True)
class SharingChanged:
    consent: ConsentView
    technician: str
    started_monotonic: float  # billable time starts at consent
    tariff: Tariff  # the operator's, as the relay sent it: the invoice uses the same
    monitor: int
    monitors: int


@dataclass(frozen=True, slots=True)
class ActivityLine:
    text: str  # already in the customer's language


@dataclass(frozen=True, slots=True)
class Reconnecting:
    """The connection dropped (ours or the technician's); the agent is restoring it.
    Consent stays as it was; the customer can end at any time."""

    own_link: bool  # False: the technician's side is reconnecting


@dataclass(frozen=True, slots=True)
class Reconnected:
    pass


@dataclass(frozen=True, slots=True)
class ControlRequested:
    """The technician asks for control; only the customer's answer can grant it."""

    technician: str  # one inert line (protocol.peer_text)


@dataclass(frozen=True, slots=True)
class Ended:
    """The session is over. The UI keeps showing this until the customer closes it."""

    reason: str  # who ended it and why, in the customer's language
    title: str = ""  # the screen's heading ("Sitzung beendet", "Keine Verbindung")
    details: tuple[str, ...] = ()  # how long, what it costs, where the recording is
    advice: str = ""  # after a failure: what to do now (check the address, call the provider)
    failed: bool = False  # the session could not start or broke off


UiEvent = (
    Connecting
    | CodeReady
    | WrongCodeTried
    | TechnicianConnecting
    | ConsentAsked
    | SharingChanged
    | ActivityLine
    | ControlRequested
    | Reconnecting
    | Reconnected
    | Ended
)

# -- UI -> agent --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    level: ConsentLevel  # DENIED, VIEW or CONTROL


@dataclass(frozen=True, slots=True)
class ChangeLevel:
    level: ConsentLevel


@dataclass(frozen=True, slots=True)
class PauseSharing:
    pass


@dataclass(frozen=True, slots=True)
class ResumeSharing:
    pass


@dataclass(frozen=True, slots=True)
class SelectMonitor:
    number: int


@dataclass(frozen=True, slots=True)
class EndSession:
    pass


Command = Answer | ChangeLevel | PauseSharing | ResumeSharing | SelectMonitor | EndSession
