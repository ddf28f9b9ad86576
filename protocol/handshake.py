"""The PAKE handshake between host and viewer, as a state machine fed bytes.

Both sides send one SPAKE2 message and, once they have the peer's, one key-confirmation
MAC. Keys are only handed out after the peer's MAC checked out, compared in constant time.

    hs = Handshake.for_host(secret="907226", session="48213")
    send(hs.start())
    step = hs.receive(peer_bytes)   # -> Step(outgoing=..., keys=None)
    step = hs.receive(peer_bytes)   # -> Step(outgoing=None, keys=SessionKeys(...))

Wire format of a handshake message: b"FW", version (1 byte), kind (1 byte), body.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from spake2 import SPAKE2_A, SPAKE2_B
from spake2.ed25519_basic import NotOnCurve
from spake2.spake2 import SPAKEError

from protocol import PROTOCOL_VERSION, SUPPORTED_VERSIONS
from protocol.channel import Channel, Direction
from protocol.errors import ProtocolError, UnsupportedVersion, WrongCode

MAGIC = b"FW"
PAKE_BODY_BYTES = 33
CONFIRM_BODY_BYTES = 32
KEY_BYTES = 32


class Role(enum.Enum):
    HOST = "host"
    VIEWER = "viewer"


class Kind(enum.IntEnum):
    PAKE = 1
    CONFIRM = 2


class State(enum.Enum):
    NEW = "new"
    AWAIT_PAKE = "awaiting the peer's PAKE message"
    AWAIT_CONFIRM = "awaiting the peer's key confirmation"
    DONE = "done"
    FAILED = "failed"


_SIDE_BYTE = {Role.HOST: b"A", Role.VIEWER: b"B"}
_BODY_BYTES = {Kind.PAKE: PAKE_BODY_BYTES, Kind.CONFIRM: CONFIRM_BODY_BYTES}


@dataclass(frozen=True, slots=True, repr=False)
class SessionKeys:
    """What a finished handshake yields. `repr` shows no key material."""

    role: Role
    session: str
    send_key: bytes
    receive_key: bytes
    resume_key: bytes
    transcript_hash: bytes

    def __repr__(self) -> str:
        return f"SessionKeys(role={self.role.value}, session={self.session!r}, keys=<hidden>)"

    def channel(self) -> Channel:
        """The AES-256-GCM channel these keys open, oriented for this side."""
        send = Direction.HOST_TO_VIEWER if self.role is Role.HOST else Direction.VIEWER_TO_HOST
        return Channel(send_key=self.send_key, receive_key=self.receive_key, send_direction=send)


@dataclass(frozen=True, slots=True)
class Step:
    """The result of feeding one message: bytes to send (if any), keys once confirmed."""

    outgoing: bytes | None = None
    keys: SessionKeys | None = None


def _length_prefixed(*parts: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(part)) + part for part in parts)


def _identity(role: Role, session: str, version: int) -> bytes:
    return f"fernwartung/v{version}/{role.value}/{session}".encode()


def encode_message(kind: Kind, body: bytes, version: int = PROTOCOL_VERSION) -> bytes:
    return MAGIC + bytes([version, kind]) + body


def decode_message(data: bytes) -> tuple[Kind, bytes]:
    """Split a handshake message into kind and body, checking framing and exact length."""
    if len(data) < 4 or data[:2] != MAGIC:
        raise ProtocolError("this is not a fernwartung handshake message")
    version = data[2]
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersion(
            f"the peer speaks protocol version {version}; this program supports "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}: update the older side"
        )
    try:
        kind = Kind(data[3])
    except ValueError:
        raise ProtocolError(f"unknown handshake message kind {data[3]}") from None
    body = data[4:]
    if len(body) != _BODY_BYTES[kind]:
        raise ProtocolError(
            f"handshake {kind.name} message must carry {_BODY_BYTES[kind]} bytes, not {len(body)}"
        )
    return kind, body


class Handshake:
    """SPAKE2 + HKDF-SHA256 + two-way key confirmation for one side of one session."""

    def __init__(self, role: Role, secret: str, session: str) -> None:
        self.role = role
        self.session = session
        self.state = State.NEW
        id_host = _identity(Role.HOST, session, PROTOCOL_VERSION)
        id_viewer = _identity(Role.VIEWER, session, PROTOCOL_VERSION)
        self._ids = (id_host, id_viewer)
        spake_class = SPAKE2_A if role is Role.HOST else SPAKE2_B
        self._spake = spake_class(secret.encode(), idA=id_host, idB=id_viewer)
        self._own_pake = b""
        self._own_confirm = b""
        self._expected_confirm = b""
        self._pending_keys: SessionKeys | None = None

    @classmethod
    def for_host(cls, secret: str, session: str) -> Handshake:
        return cls(Role.HOST, secret, session)

    @classmethod
    def for_viewer(cls, secret: str, session: str) -> Handshake:
        return cls(Role.VIEWER, secret, session)

    def _fail(self, error: Exception) -> Exception:
        self.state = State.FAILED
        self._pending_keys = None
        return error

    def start(self) -> bytes:
        """The PAKE message to send to the peer; call once."""
        if self.state is not State.NEW:
            raise ProtocolError(f"handshake already started (state: {self.state.value})")
        body = self._spake.start()
        self._own_pake = encode_message(Kind.PAKE, body)
        self.state = State.AWAIT_PAKE
        return self._own_pake

    def receive(self, data: bytes) -> Step:
        """Feed one message from the peer."""
        if self.state in (State.NEW, State.DONE, State.FAILED):
            raise self._fail(
                ProtocolError(f"unexpected handshake message in state '{self.state.value}'")
            )
        try:
            kind, body = decode_message(data)
        except ProtocolError as error:
            raise self._fail(error) from None
        if self.state is State.AWAIT_PAKE:
            if kind is not Kind.PAKE:
                raise self._fail(
                    ProtocolError("the peer sent a key confirmation before its PAKE message")
                )
            return self._receive_pake(body, data)
        if kind is not Kind.CONFIRM:
            raise self._fail(ProtocolError("the peer sent a second PAKE message"))
        return self._receive_confirm(body, data)

    def _receive_pake(self, body: bytes, data: bytes) -> Step:
        peer_role = Role.VIEWER if self.role is Role.HOST else Role.HOST
        if data == self._own_pake or body[:1] != _SIDE_BYTE[peer_role]:
            raise self._fail(ProtocolError("the PAKE message was reflected back to its sender"))
        try:
            pake_key = self._spake.finish(body)
        except (SPAKEError, ValueError, NotOnCurve):
            raise self._fail(ProtocolError("the peer's PAKE message is not valid")) from None
        pake_host, pake_viewer = (
            (self._own_pake, data) if self.role is Role.HOST else (data, self._own_pake)
        )
        salt = hashlib.sha256(
            _length_prefixed(b"fernwartung-salt", self.session.encode(), pake_host, pake_viewer)
        ).digest()
        transcript = hashlib.sha256(
            _length_prefixed(
                b"fernwartung-transcript",
                bytes([PROTOCOL_VERSION]),
                self.session.encode(),
                *self._ids,
                pake_host,
                pake_viewer,
            )
        ).digest()

        def derive(label: str) -> bytes:
            info = f"fernwartung v{PROTOCOL_VERSION} {label}".encode()
            hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info)
            return hkdf.derive(pake_key)

        host_to_viewer = derive("host-to-viewer")
        viewer_to_host = derive("viewer-to-host")
        confirm_host = hmac.new(
            derive("confirm-host"), b"host confirms" + transcript, hashlib.sha256
        ).digest()
        confirm_viewer = hmac.new(
            derive("confirm-viewer"), b"viewer confirms" + transcript, hashlib.sha256
        ).digest()
        if self.role is Role.HOST:
            own, expected = confirm_host, confirm_viewer
            send_key, receive_key = host_to_viewer, viewer_to_host
        else:
            own, expected = confirm_viewer, confirm_host
            send_key, receive_key = viewer_to_host, host_to_viewer
        self._own_confirm = encode_message(Kind.CONFIRM, own)
        self._expected_confirm = expected
        self._pending_keys = SessionKeys(
            role=self.role,
            session=self.session,
            send_key=send_key,
            receive_key=receive_key,
            resume_key=derive("resume"),
            transcript_hash=transcript,
        )
        self.state = State.AWAIT_CONFIRM
        return Step(outgoing=self._own_confirm)

    def _receive_confirm(self, body: bytes, data: bytes) -> Step:
        if hmac.compare_digest(data, self._own_confirm):
            raise self._fail(ProtocolError("the key confirmation was reflected back to its sender"))
        if not hmac.compare_digest(body, self._expected_confirm):
            raise self._fail(WrongCode("the code does not match: key confirmation failed"))
        keys = self._pending_keys
        assert keys is not None
        self._pending_keys = None
        self.state = State.DONE
        return Step(keys=keys)
