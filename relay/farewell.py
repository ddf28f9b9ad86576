"""How the relay leaves a connection: close codes, error messages for people, and what
the remaining side of a session is told, by end reason. Shared by relay/server.py,
relay/sides.py and relay/resumption.py."""

from __future__ import annotations

from protocol import control
from protocol.control import ErrorCode

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
MAX_CLOSE_REASON_BYTES = 120
MAX_ERROR_TEXT_CHARS = 500

# End reasons that end the whole session even before consent (see relay.pairing).
SESSION_WIDE = frozenset({"void", "expired", "idle", "shutting_down"})

# What the remaining side is told (peer_left) when the other side goes, by end reason.
FOR_PEOPLE = {
    "host_left": "the customer disconnected",
    "viewer_left": "the technician disconnected",
    "host_not_reading": "the customer's connection stalled",
    "viewer_not_reading": "the technician's connection stalled",
    "host_too_large": "the customer's program sent a message that is too large",
    "viewer_too_large": "the technician's program sent a message that is too large",
    "host_bad_message": "the customer's program broke the protocol",
    "viewer_bad_message": "the technician's program broke the protocol",
    "host_ended": "the customer ended the session",
    "viewer_ended": "the technician ended the session",
    "revoked": "the technician's access was revoked",
    "wrong_code": "the technician entered a wrong code",
    "relay_restarted": "the relay restarted and the other side did not come back",
    "relay_lost": "the relay was lost and the other side did not come back",
    "database_unavailable": "the relay's database was unreachable for too long",
}
RESUME_REFUSED_TEXT = "this session cannot be resumed"
VOID_TEXT = "too many wrong codes; this code is void"
REVOKED_TEXT = "this technician's access was revoked"
# Read by the customer as well as the technician, so in both languages.
DATABASE_UNAVAILABLE_TEXT = (
    "Der Dienst nimmt gerade keine neuen Sitzungen an (Datenbank nicht erreichbar); bitte "
    "in einer Minute erneut versuchen. / The service cannot start new sessions right now "
    "(its database is unreachable); please try again in a minute."
)


class Close(Exception):
    """Leave this connection: optionally send `message`, then close with code and reason.

    `end_reason` is what the ledger records if this ends the session; `notify_other` is
    what the other side is told (and whether the relay closes it too).
    """

    def __init__(
        self,
        message: control.Control | None,
        close_code: int,
        close_reason: str,
        *,
        end_reason: str | None = None,
        notify_other: tuple[control.Control, bool] | None = None,
    ) -> None:
        super().__init__(close_reason)
        self.message = message
        self.close_code = close_code
        self.close_reason = close_reason
        self.end_reason = end_reason
        self.notify_other = notify_other


def error_message(code: ErrorCode, text: str) -> control.Error:
    """The `error` control message a client gets before the relay closes on it."""
    return control.Error(code=code, message=text[:MAX_ERROR_TEXT_CHARS])


def refusal(code: ErrorCode, text: str, close_code: int = CLOSE_POLICY) -> Close:
    """Refuse a register, join or resume: the error, then a close."""
    return Close(error_message(code, text), close_code, code.value)


def bad_message(text: str) -> Close:
    """Leave a client that broke the protocol."""
    return Close(error_message(ErrorCode.BAD_MESSAGE, text), CLOSE_POLICY, "bad message")
