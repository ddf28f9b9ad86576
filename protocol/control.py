"""Relay control: the JSON text frames between the relay and a host or viewer.

Each is an object with a ``type``; the fields of each type are exact (unknown fields are
refused, optional ones have defaults). Binary frames are end-to-end ciphertext and never
pass through this module.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from protocol.billing import Rounding, Tariff
from protocol.errors import ProtocolError
from protocol.schema import (
    Choice,
    Flag,
    HexDigest,
    Int,
    ListOf,
    Record,
    Text,
    check,
    from_mapping,
    rule,
    to_mapping,
)

MAX_CONTROL_BYTES = 4096
MAX_TECHNICIAN_CHARS = 64
SESSION_PATTERN = r"[0-9]{4,12}"
_SESSION = Text(12, SESSION_PATTERN)
_TECHNICIAN = Text(MAX_TECHNICIAN_CHARS)
_VERSION = Int(0, 255)
_REASON = Text(500)
# Money and percentages travel as decimal text ("1.40", "19"); empty means "not given".
_AMOUNT = Text(12, r"([0-9]{1,6}(\.[0-9]{1,4})?)?")
_ROUNDING = Text(20, "(" + "|".join(r.value for r in Rounding) + ")?")
_TERMS_HASH = Text(64, r"([0-9a-f]{64})?")
_FILE_HEAD = Text(64, r"([0-9a-f]{64})?")  # empty: not reported (an older side)
# Another relay of the operator: a WebSocket base URL (no path) and its certificate pin.
MAX_RELAY_URL_CHARS = 200
MAX_OTHER_RELAYS = 8
_RELAY_URL = Text(MAX_RELAY_URL_CHARS, r"wss?://[^\s/?#@\\]+")
_PIN = Text(64, r"([0-9a-f]{64})?")  # empty: the system's trust store decides


class ErrorCode(enum.Enum):
    UNKNOWN_SESSION = "unknown_session"
    EXPIRED = "expired"
    VOID = "void"
    BUSY = "busy"
    UNAUTHORIZED = "unauthorized"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"
    BAD_MESSAGE = "bad_message"
    UNSUPPORTED_VERSION = "unsupported_version"
    SERVER_FULL = "server_full"
    TIMEOUT = "timeout"
    REVOKED = "revoked"
    SHUTTING_DOWN = "shutting_down"
    RESUME_REFUSED = "resume_refused"
    DATABASE_UNAVAILABLE = "database_unavailable"


class ReportedConsent(enum.Enum):
    DENIED = "denied"
    VIEW = "view"
    CONTROL = "control"


class Control:
    """Base of every relay control message."""

    TYPE: ClassVar[str]
    # Fields added later that are left out of the JSON at their default value, so a
    # message that does not use them reads the same to an older peer.
    OMITTED_AT_DEFAULT: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True, slots=True)
class OtherRelay:
    """Another relay of the same operator, where a side may go on with its session when
    its own relay is gone: its URL and the SHA-256 pin of its certificate (empty: the
    system's trust store decides). Travels as a list `[url, fingerprint]`."""

    url: str = rule(_RELAY_URL)
    fingerprint: str = rule(_PIN, default="")

    def __post_init__(self) -> None:
        check(self)


_OTHER_RELAYS = ListOf(Record(OtherRelay), MAX_OTHER_RELAYS)


@dataclass(frozen=True, slots=True)
class Register(Control):
    TYPE: ClassVar[str] = "register"
    version: int = rule(_VERSION)


class TariffFields:
    """The operator's tariff, carried by `registered` and `joined` so that both sides show
    the running cost with the numbers the invoice will use."""

    rate_per_minute: str
    vat_percent: str
    rounding: str
    minimum_charge: str

    def tariff(self) -> Tariff | None:
        """The tariff the relay sent, or None if it sent none (an older relay)."""
        if not self.rate_per_minute:
            return None
        return Tariff(
            rate_per_minute=Decimal(self.rate_per_minute),
            vat_percent=Decimal(self.vat_percent or "0"),
            rounding=Rounding(self.rounding or Rounding.PER_STARTED_MINUTE.value),
            minimum_charge=Decimal(self.minimum_charge or "0"),
        )


def tariff_fields(tariff: Tariff) -> dict[str, str]:
    """Keyword arguments for `Registered` or `Joined` that carry `tariff`."""
    return {
        "rate_per_minute": str(tariff.rate_per_minute),
        "vat_percent": str(tariff.vat_percent),
        "rounding": tariff.rounding.value,
        "minimum_charge": str(tariff.minimum_charge),
    }


@dataclass(frozen=True, slots=True)
class Registered(Control, TariffFields):
    """Relay -> host: the session number. `relays`: the operator's other live relays
    (several relays on one database), where the host may resume if this one is gone."""

    TYPE: ClassVar[str] = "registered"
    OMITTED_AT_DEFAULT: ClassVar[frozenset[str]] = frozenset({"relays"})
    session: str = rule(_SESSION)
    expires_in: int = rule(Int(0, 86_400))
    rate_per_minute: str = rule(_AMOUNT, default="")
    vat_percent: str = rule(_AMOUNT, default="")
    rounding: str = rule(_ROUNDING, default="")
    minimum_charge: str = rule(_AMOUNT, default="")
    relays: tuple[OtherRelay, ...] = rule(_OTHER_RELAYS, default=())


@dataclass(frozen=True, slots=True)
class Join(Control):
    TYPE: ClassVar[str] = "join"
    session: str = rule(_SESSION)
    version: int = rule(_VERSION)
    customer: str = rule(Text(100, r"[^\x00-\x1f\x7f]*"), default="")


@dataclass(frozen=True, slots=True)
class Joined(Control, TariffFields):
    """Relay -> viewer: joined. `technician`: the name the relay verified the token of (the
    viewer's recording holds it); empty from an older relay. `relays`: as in `Registered`."""

    TYPE: ClassVar[str] = "joined"
    OMITTED_AT_DEFAULT: ClassVar[frozenset[str]] = frozenset({"relays"})
    rate_per_minute: str = rule(_AMOUNT, default="")
    vat_percent: str = rule(_AMOUNT, default="")
    rounding: str = rule(_ROUNDING, default="")
    minimum_charge: str = rule(_AMOUNT, default="")
    technician: str = rule(_TECHNICIAN, default="")
    relays: tuple[OtherRelay, ...] = rule(_OTHER_RELAYS, default=())


@dataclass(frozen=True, slots=True)
class PeerJoined(Control):
    TYPE: ClassVar[str] = "peer_joined"
    technician: str = rule(_TECHNICIAN)


@dataclass(frozen=True, slots=True)
class FailedAttempt(Control):
    TYPE: ClassVar[str] = "failed_attempt"


@dataclass(frozen=True, slots=True)
class Void(Control):
    """Relay -> host: too many wrong tries; this session number is void."""

    TYPE: ClassVar[str] = "void"


@dataclass(frozen=True, slots=True)
class Consent(Control):
    """Host -> relay: the customer's answer, with what they were shown (the receipt)."""

    TYPE: ClassVar[str] = "consent"
    level: ReportedConsent = rule(Choice(ReportedConsent))
    technician: str = rule(_TECHNICIAN, default="")
    rate_per_minute: str = rule(_AMOUNT, default="")
    vat_percent: str = rule(_AMOUNT, default="")
    terms_hash: str = rule(_TERMS_HASH, default="")


@dataclass(frozen=True, slots=True)
class Checkpoint(Control):
    """Host or viewer -> relay: where its recording stands, for the ledger.

    `records`/`head`: its outgoing traffic chain; `file_records`/`file_head`: its file
    chain over every record written so far, local ones included (hex; empty from a side
    that does not report it).
    """

    TYPE: ClassVar[str] = "checkpoint"
    records: int = rule(Int(0, 2**53))
    head: bytes = rule(HexDigest(32))
    file_records: int = rule(Int(0, 2**53), default=0)
    file_head: str = rule(_FILE_HEAD, default="")


@dataclass(frozen=True, slots=True)
class PeerLeft(Control):
    """Relay -> the remaining side: the other side's connection closed."""

    TYPE: ClassVar[str] = "peer_left"
    reason: str = rule(_REASON)


@dataclass(frozen=True, slots=True)
class End(Control):
    """Either side -> relay: the session is over. `peer_ended`: this side ends because the
    other side said goodbye first in the channel (the relay cannot see a Bye), so the
    ledger names the side that really ended."""

    TYPE: ClassVar[str] = "end"
    OMITTED_AT_DEFAULT: ClassVar[frozenset[str]] = frozenset({"peer_ended"})
    reason: str = rule(_REASON)
    peer_ended: bool = rule(Flag(), default=False)


@dataclass(frozen=True, slots=True)
class Error(Control):
    TYPE: ClassVar[str] = "error"
    code: ErrorCode = rule(Choice(ErrorCode))
    message: str = rule(_REASON)


# -- resuming after a dropped connection (protocol/resume.py, docs/session-contract.md) --

_EPOCH = Int(0, 10_000)
_RESUME_HEX = HexDigest(32)


@dataclass(frozen=True, slots=True)
class ResumeVerifier(Control):
    """Host or viewer -> relay: the hash of this side's one-time resume secret for `epoch`."""

    TYPE: ClassVar[str] = "resume_verifier"
    epoch: int = rule(_EPOCH)
    verifier: bytes = rule(_RESUME_HEX)

    def __repr__(self) -> str:
        return f"ResumeVerifier(epoch={self.epoch})"


@dataclass(frozen=True, slots=True)
class Resume(Control):
    """Host (on /v1/host) or viewer (on /v1/viewer) -> relay, instead of register or join:
    take the slot of `session` back, proving it with the secret of `epoch`."""

    TYPE: ClassVar[str] = "resume"
    session: str = rule(_SESSION)
    epoch: int = rule(_EPOCH)
    secret: bytes = rule(_RESUME_HEX)
    version: int = rule(_VERSION)

    def __repr__(self) -> str:
        return f"Resume(session={self.session!r}, epoch={self.epoch})"


@dataclass(frozen=True, slots=True)
class PeerReconnecting(Control):
    """Relay -> a side: the other side's connection dropped; its slot is kept a while."""

    TYPE: ClassVar[str] = "peer_reconnecting"


@dataclass(frozen=True, slots=True)
class Resumed(Control):
    """Relay -> both sides: both are connected again; switch to channel `epoch`.
    `relays`: as in `Registered` (the relay the session is on now may be another)."""

    TYPE: ClassVar[str] = "resumed"
    OMITTED_AT_DEFAULT: ClassVar[frozenset[str]] = frozenset({"relays"})
    epoch: int = rule(_EPOCH)
    relays: tuple[OtherRelay, ...] = rule(_OTHER_RELAYS, default=())


# -- several relays on one database ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Redirect(Control):
    """Relay -> a viewer's join or a side's resume: this session is held by another relay
    of the operator; ask there (`url`, with the certificate pin `fingerprint` when the
    relays use self-signed certificates). The relay closes the connection after it and
    counts nothing: no try of the code, no resume secret used. A side follows one redirect
    per request; a second is an error (a loop)."""

    TYPE: ClassVar[str] = "redirect"
    url: str = rule(_RELAY_URL)
    fingerprint: str = rule(_PIN, default="")

    def other_relay(self) -> OtherRelay:
        return OtherRelay(self.url, self.fingerprint)


CONTROL_TYPES: dict[str, type[Control]] = {
    cls.TYPE: cls
    for cls in (
        Register,
        Registered,
        Join,
        Joined,
        PeerJoined,
        FailedAttempt,
        Void,
        Consent,
        Checkpoint,
        PeerLeft,
        End,
        Error,
        ResumeVerifier,
        Resume,
        PeerReconnecting,
        Resumed,
        Redirect,
    )
}


# What only the relay sends: a side reads these leniently (unknown fields are ignored), so
# that a relay can add a field without breaking hosts and viewers that predate it.
FROM_RELAY: frozenset[type[Control]] = frozenset(
    {Registered, Joined, PeerJoined, Void, PeerLeft, Error, PeerReconnecting, Resumed, Redirect}
)


def encode(message: Control) -> str:
    """The JSON text of a control message."""
    fields = to_mapping(message)
    for name in message.OMITTED_AT_DEFAULT:
        if getattr(message, name) == _DEFAULTS[type(message), name]:
            del fields[name]
    return json.dumps({"type": message.TYPE, **fields}, separators=(",", ":"))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate key")
        result[key] = value
    return result


def decode(text: str | bytes) -> Control:
    """Parse and validate one control frame."""
    if len(text) > MAX_CONTROL_BYTES:
        raise ProtocolError(f"control message is larger than {MAX_CONTROL_BYTES} bytes")
    try:
        value = json.loads(
            text, parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicates
        )
    except (ValueError, RecursionError):
        raise ProtocolError("control message is not valid JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError("a control message must be a JSON object")
    kind = value.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("a control message needs a 'type' text field")
    cls = CONTROL_TYPES.get(kind)
    if cls is None:
        raise ProtocolError(f"unknown control message type '{kind[:40]}'")
    ignore = {"type"}
    if cls in FROM_RELAY:
        # A newer relay may tell more: fields a side does not know are left unread.
        ignore |= set(value) - {f.name for f in dataclasses.fields(cls)}
    return from_mapping(cls, value, ignore=frozenset(ignore))


_DEFAULTS = {
    (cls, field.name): field.default
    for cls in CONTROL_TYPES.values()
    for field in dataclasses.fields(cls)
    if field.name in cls.OMITTED_AT_DEFAULT
}
