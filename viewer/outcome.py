"""How a viewer run ends: the contract's exit statuses and a sentence for the technician."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocol.errors import (
    CertificateMismatch,
    CodeVoid,
    ConsentDenied,
    FernwartungError,
    InvalidCode,
    NotAuthorised,
    ProtocolError,
    RelayUnreachable,
    SessionEnded,
    WrongCode,
)
from protocol.peer_text import one_line
from viewer.texts import ViewerTexts, translate_reason


class ExitStatus(enum.IntEnum):
    """The viewer's exit statuses (DESIGN.md, docs/session-contract.md)."""

    ENDED = 0
    ERROR = 1
    USAGE = 2
    WRONG_CODE = 3
    CODE_VOID = 4
    NOT_AUTHORISED = 5
    DENIED = 6
    RELAY_UNREACHABLE = 7
    CERTIFICATE_MISMATCH = 8


HEADLINES = {
    ExitStatus.ENDED: "end_ended",
    ExitStatus.ERROR: "end_error",
    ExitStatus.USAGE: "end_usage",
    ExitStatus.WRONG_CODE: "end_wrong_code",
    ExitStatus.CODE_VOID: "end_code_void",
    ExitStatus.NOT_AUTHORISED: "end_not_authorised",
    ExitStatus.DENIED: "end_denied",
    ExitStatus.RELAY_UNREACHABLE: "end_relay_unreachable",
    ExitStatus.CERTIFICATE_MISMATCH: "end_certificate",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """The end of a run: its exit status and what to tell the technician.

    `message` is the English sentence; `reason` the why as it arrived (from the host, the
    relay or this program), which `describe` words in the technician's language."""

    status: ExitStatus
    message: str
    reason: str = ""

    def describe(self, texts: ViewerTexts) -> str:
        """One line in the technician's language: the headline, then the reason."""
        headline = texts(HEADLINES[self.status])
        if not self.reason:
            return headline
        return f"{headline}: {translate_reason(self.reason, texts)}"


_STATUS_AND_PREFIX: tuple[tuple[type[FernwartungError], ExitStatus, str], ...] = (
    (WrongCode, ExitStatus.WRONG_CODE, "Wrong code: ask the customer to read it out again"),
    (CodeVoid, ExitStatus.CODE_VOID, "The code is unknown, expired or void"),
    (NotAuthorised, ExitStatus.NOT_AUTHORISED, "Not authorised"),
    (ConsentDenied, ExitStatus.DENIED, "The customer declined the session"),
    (RelayUnreachable, ExitStatus.RELAY_UNREACHABLE, "Relay unreachable"),
    (CertificateMismatch, ExitStatus.CERTIFICATE_MISMATCH, "Relay certificate mismatch"),
    (InvalidCode, ExitStatus.USAGE, "Not a valid code"),
    (ProtocolError, ExitStatus.ERROR, "Protocol error"),
)


def outcome_for(error: FernwartungError, *, established: bool) -> Outcome:
    """The outcome for the error that ended a run.

    `SessionEnded` is a normal end once the session was established (either side ended);
    before that, the relay or the host broke off the attempt, which is an error.
    """
    if isinstance(error, SessionEnded):
        reason = one_line(error.reason)
        if established:
            return Outcome(ExitStatus.ENDED, f"Session ended: {reason}", reason)
        return Outcome(ExitStatus.ERROR, f"The session could not start: {reason}", reason)
    detail = one_line(str(error))
    for kind, status, prefix in _STATUS_AND_PREFIX:
        if isinstance(error, kind):
            if _says_the_same(prefix, detail):
                return Outcome(status, prefix)
            return Outcome(status, f"{prefix} ({detail})", detail)
    return Outcome(ExitStatus.ERROR, f"Error: {detail}", detail)


PLAIN_CUSTOMER_REASONS = frozenset({"", "the customer ended the session", "ended by the customer"})


def customer_ended(reason: str) -> str:
    """Why the session ended when the host said goodbye: its reason only when it adds
    something (never "the customer ended the session (ended by the customer)")."""
    line = one_line(reason)
    if line.lower() in PLAIN_CUSTOMER_REASONS:
        return "the customer ended the session"
    return f"the customer ended the session: {line}"


def _says_the_same(prefix: str, detail: str) -> bool:
    """Whether `detail` only repeats `prefix` ("declined ... (declined ...)")."""
    return not detail or detail.strip(" .").lower() == prefix.lower()
