"""What the customer has allowed right now: the consent level and whether sharing is paused.

Two small state machines that only the customer's own actions in the agent move; no
network message can grant control. Everything else asks `may_capture` / `may_inject`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocol.errors import FernwartungError
from protocol.messages import ConsentLevel


class IllegalMove(FernwartungError):
    """A consent action that is not possible in the current state (a bug in the caller)."""


class Sharing(enum.Enum):
    ACTIVE = "active"
    PAUSED = "paused"


class Phase(enum.Enum):
    ASKING = "asking"  # the question is on screen, nothing captured
    GRANTED = "granted"  # view or control
    DENIED = "denied"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class ConsentView:
    """A snapshot for the UI and the pipeline."""

    phase: Phase
    level: ConsentLevel
    sharing: Sharing

    @property
    def may_capture(self) -> bool:
        return self.phase is Phase.GRANTED and self.sharing is Sharing.ACTIVE

    @property
    def may_inject(self) -> bool:
        return self.may_capture and self.level is ConsentLevel.CONTROL


class Consent:
    """The customer's consent for one technician in one session."""

    def __init__(self) -> None:
        self.phase = Phase.ASKING
        self.level = ConsentLevel.PENDING
        self.sharing = Sharing.ACTIVE

    def view(self) -> ConsentView:
        return ConsentView(self.phase, self.level, self.sharing)

    def _illegal(self, event: str) -> IllegalMove:
        return IllegalMove(f"cannot {event} while consent is '{self.phase.value}'")

    def answer(self, level: ConsentLevel) -> ConsentView:
        """The customer's answer to the question: DENIED, VIEW or CONTROL."""
        if self.phase is not Phase.ASKING:
            raise self._illegal("answer the question")
        if level is ConsentLevel.PENDING:
            raise IllegalMove("an answer must be deny, view or control")
        self.level = level
        self.phase = Phase.DENIED if level is ConsentLevel.DENIED else Phase.GRANTED
        return self.view()

    def change_level(self, level: ConsentLevel) -> ConsentView:
        """Switch between view only and control while granted."""
        if self.phase is not Phase.GRANTED:
            raise self._illegal("change the level")
        if level not in (ConsentLevel.VIEW, ConsentLevel.CONTROL):
            raise IllegalMove("the level can only change to view or control")
        self.level = level
        return self.view()

    def pause(self) -> ConsentView:
        if self.phase is not Phase.GRANTED or self.sharing is Sharing.PAUSED:
            raise self._illegal("pause")
        self.sharing = Sharing.PAUSED
        return self.view()

    def resume(self) -> ConsentView:
        if self.phase is not Phase.GRANTED or self.sharing is Sharing.ACTIVE:
            raise self._illegal("resume")
        self.sharing = Sharing.ACTIVE
        return self.view()

    def end(self) -> ConsentView:
        """Always possible; final."""
        self.phase = Phase.ENDED
        return self.view()
