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


@dataclass(frozen=True, slots=True)
class Outcome:
    """The end of a run: its exit status and what to tell the technician."""

    status: ExitStatus
    message: str


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
        if established:
            return Outcome(ExitStatus.ENDED, f"Session ended: {error.reason}")
        return Outcome(ExitStatus.ERROR, f"The session could not start: {error.reason}")
    for kind, status, prefix in _STATUS_AND_PREFIX:
        if isinstance(error, kind):
            return Outcome(status, f"{prefix} ({error})")
    return Outcome(ExitStatus.ERROR, f"Error: {error}")
