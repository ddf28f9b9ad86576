"""The one exception tree of fernwartung.

Error texts are for people. They never contain a code, secret, token, key or payload.
"""


class FernwartungError(Exception):
    """Root of every error fernwartung raises on purpose."""


class ProtocolError(FernwartungError):
    """The peer (or the relay) sent something this side cannot accept."""


class UnsupportedVersion(ProtocolError):
    """The peer speaks a protocol version this side does not know."""


class IntegrityError(ProtocolError):
    """An encrypted message was altered, replayed, reordered, dropped or echoed."""


class InvalidCode(FernwartungError):
    """Typed text is not a well-formed one-time code."""


class WrongCode(FernwartungError):
    """Key confirmation failed: host and viewer do not share the same code."""


class CodeVoid(FernwartungError):
    """The code is unknown, expired, or void after too many wrong tries."""


class NotAuthorised(FernwartungError):
    """The technician's token was refused by the relay."""


class ConsentDenied(FernwartungError):
    """The customer declined the session."""


class SessionEnded(FernwartungError):
    """The session is over; `reason` says why in words for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectionLost(SessionEnded):
    """The connection to the relay closed without the relay saying why (no error, no end):
    a dropped network, a restarting relay. An established session may resume."""


class ResumeRefused(SessionEnded):
    """The relay would not give the session's slot back (ended, expired, or not proven)."""


class RelayUnreachable(FernwartungError):
    """No connection to the relay could be made (or kept)."""


class CertificateMismatch(FernwartungError):
    """The relay's TLS certificate is not the one pinned or trusted."""


class RecordingFailed(FernwartungError):
    """The evidence recording could not be written (a full disk, say): the session must end."""
