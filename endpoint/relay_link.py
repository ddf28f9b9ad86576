"""An endpoint's link to the relay, the same for the host agent and the viewer.

It opens a WebSocket to the relay (TLS with either the system's trust store or a pinned
SHA-256 certificate fingerprint), and turns frames into control messages (text) or
end-to-end ciphertext (binary). The pinned fingerprint is checked after the TLS handshake
and before the HTTP upgrade, so a technician's token never reaches an impostor.

A refused connection (nobody listening yet, a connection reset or closed before the relay
answered, HTTP 503 from a busy or restarting relay) is tried again with back-off for a few
seconds, so a busy minute costs a short wait instead of a failed session. A refused token,
a certificate that does not match, a timeout or any other answer is final at once.
"""

from __future__ import annotations

import asyncio
import hmac
import random
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
)

from protocol import control
from protocol.errors import (
    CertificateMismatch,
    CodeVoid,
    ConnectionLost,
    NotAuthorised,
    ProtocolError,
    RelayUnreachable,
    ResumeRefused,
    SessionEnded,
)
from protocol.fingerprints import fingerprint, normalise_fingerprint

CONNECT_TIMEOUT_SECONDS = 10.0
# The relay forwards frame updates of up to 16 MiB plus channel and framing overhead.
MAX_FRAME_BYTES = 16 * 1024 * 1024 + 4096
PING_INTERVAL_SECONDS = 20.0
PING_TIMEOUT_SECONDS = 20.0
# Trying again after a refused connection: the first wait, doubling up to the longest,
# +-20 % so that a burst of clients does not come back in lockstep; no try starts later
# than OPEN_RETRY_FOR_SECONDS after the first.
OPEN_RETRY_FIRST_SECONDS = 0.1
OPEN_RETRY_LONGEST_SECONDS = 1.0
OPEN_RETRY_JITTER = 0.2
OPEN_RETRY_FOR_SECONDS = 5.0
# Errors of a connection the relay (or its host) refused or dropped before answering.
REFUSED_ERRORS = (
    ConnectionRefusedError,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)
BUSY_STATUSES = (503,)


def _ssl_context(pinned: str | None) -> ssl.SSLContext:
    if pinned is None:
        return ssl.create_default_context()
    # The certificate is checked by its fingerprint instead of by a CA (self-signed relays).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _pinned_connection_class(pinned: str) -> type[ClientConnection]:
    class PinnedConnection(ClientConnection):
        async def handshake(self, *args: Any, **kwargs: Any) -> None:
            ssl_object = self.transport.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
            if der is None or not hmac.compare_digest(fingerprint(der), pinned):
                self.transport.abort()
                raise CertificateMismatch(
                    "the relay's certificate does not match the pinned fingerprint"
                )
            await super().handshake(*args, **kwargs)

    return PinnedConnection


@dataclass(frozen=True, slots=True)
class RelayAddress:
    """Where the relay is, from a URL such as wss://relay.example:8765."""

    base: str
    secure: bool

    @classmethod
    def parse(cls, url: str) -> RelayAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError("the relay URL must look like wss://HOST:PORT (or ws:// on loopback)")
        return cls(base=f"{parts.scheme}://{parts.netloc}", secure=parts.scheme == "wss")

    def endpoint(self, path: str) -> str:
        return self.base + path


class RelayLink:
    """One open connection to the relay: control messages and opaque binary frames."""

    def __init__(self, websocket: ClientConnection) -> None:
        self._websocket = websocket

    async def send_control(self, message: control.Control) -> None:
        await self._send(control.encode(message))

    async def send_binary(self, data: bytes) -> None:
        await self._send(data)

    async def _send(self, data: str | bytes) -> None:
        try:
            await self._websocket.send(data)
        except ConnectionClosed as closed:
            raise ConnectionLost(_closed_reason(closed)) from None

    async def receive(self) -> control.Control | bytes:
        """The next frame: a decoded control message, or ciphertext bytes.

        An `error` control message from the relay is raised as the matching exception.
        """
        try:
            frame = await self._websocket.recv()
        except ConnectionClosed as closed:
            raise ConnectionLost(_closed_reason(closed)) from None
        if isinstance(frame, bytes):
            return frame
        message = control.decode(frame)
        if isinstance(message, control.Error):
            raise error_for(message)
        return message

    async def close(self, reason: str = "") -> None:
        await self._websocket.close(code=1000, reason=reason[:120])

    @property
    def bytes_buffered(self) -> int:
        """Bytes written but not yet taken by the network (for flow control)."""
        return self._websocket.transport.get_write_buffer_size()


def _closed_reason(closed: ConnectionClosed) -> str:
    received = closed.rcvd
    if received is not None and received.reason:
        return received.reason
    return "the connection to the relay was closed"


def error_for(message: control.Error) -> Exception:
    """The exception that matches a relay error (its message is written for people)."""
    code = message.code
    if code is control.ErrorCode.RESUME_REFUSED:
        return ResumeRefused(message.message)
    if code in (
        control.ErrorCode.UNKNOWN_SESSION,
        control.ErrorCode.EXPIRED,
        control.ErrorCode.VOID,
    ):
        return CodeVoid(message.message)
    if code in (control.ErrorCode.UNAUTHORIZED, control.ErrorCode.REVOKED):
        return NotAuthorised(message.message)
    if code in (
        control.ErrorCode.BAD_MESSAGE,
        control.ErrorCode.UNSUPPORTED_VERSION,
        control.ErrorCode.TOO_LARGE,
    ):
        return ProtocolError(message.message)
    return SessionEnded(message.message)


class _Refused(Exception):
    """A try the relay refused or dropped before answering: worth another try."""

    def __init__(self, error: RelayUnreachable) -> None:
        super().__init__(str(error))
        self.error = error


async def open_link(
    relay_url: str,
    path: str,
    *,
    fingerprint_pin: str | None = None,
    token: str | None = None,
    retry_for_seconds: float = OPEN_RETRY_FOR_SECONDS,
) -> RelayLink:
    """Connect to `path` (/v1/host or /v1/viewer) on the relay, trying again with back-off
    while the connection is refused, for at most `retry_for_seconds`.

    Raises RelayUnreachable, CertificateMismatch or NotAuthorised with a sentence for people.
    """
    address = RelayAddress.parse(relay_url)
    options = _connect_options(address, fingerprint_pin, token)
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + retry_for_seconds
    delay = OPEN_RETRY_FIRST_SECONDS
    while True:
        try:
            return RelayLink(await _connect(address, path, options))
        except _Refused as refused:
            wait = delay * (1.0 + random.uniform(-OPEN_RETRY_JITTER, OPEN_RETRY_JITTER))
            if loop.time() + wait > give_up_at:
                raise refused.error from None
        await asyncio.sleep(wait)  # back-off between tries, not a wait for an event
        delay = min(2 * delay, OPEN_RETRY_LONGEST_SECONDS)


def _connect_options(
    address: RelayAddress, fingerprint_pin: str | None, token: str | None
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "compression": None,
        "max_size": MAX_FRAME_BYTES,
        "open_timeout": CONNECT_TIMEOUT_SECONDS,
        "ping_interval": PING_INTERVAL_SECONDS,
        "ping_timeout": PING_TIMEOUT_SECONDS,
        "proxy": None,
        "user_agent_header": "fernwartung",
    }
    if token is not None:
        options["additional_headers"] = {"Authorization": f"Bearer {token}"}
    if address.secure:
        pinned = normalise_fingerprint(fingerprint_pin) if fingerprint_pin else None
        options["ssl"] = _ssl_context(pinned)
        if pinned is not None:
            options["create_connection"] = _pinned_connection_class(pinned)
    elif fingerprint_pin:
        raise ValueError("a fingerprint can only be pinned on a wss:// relay URL")
    return options


async def _connect(address: RelayAddress, path: str, options: dict[str, Any]) -> ClientConnection:
    """One try; _Refused when another may succeed."""
    try:
        return await connect(address.endpoint(path), **options)
    except CertificateMismatch:
        raise
    except ssl.SSLCertVerificationError:
        raise CertificateMismatch(
            "the relay's certificate is not trusted (pin it with --fingerprint)"
        ) from None
    except InvalidStatus as refused:
        status = refused.response.status_code
        if status in (401, 403):
            raise NotAuthorised("the relay refused this technician token") from None
        unreachable = RelayUnreachable(f"the relay refused the connection (HTTP {status})")
        if status in BUSY_STATUSES:
            raise _Refused(unreachable) from None
        raise unreachable from None
    except InvalidMessage as error:
        if not address.secure:
            # A TLS relay answers a plain connection with no HTTP at all.
            raise RelayUnreachable(
                f"the relay at {address.base} did not answer as a WebSocket server; "
                "if it uses TLS, the address starts with wss://"
            ) from None
        unreachable = RelayUnreachable(
            f"cannot reach the relay at {address.base} ({type(error).__name__})"
        )
        if isinstance(error.__cause__, EOFError):
            raise _Refused(unreachable) from None  # closed during the upgrade: busy
        raise unreachable from None
    except (OSError, TimeoutError, InvalidHandshake, websockets.exceptions.InvalidURI) as error:
        unreachable = RelayUnreachable(
            f"cannot reach the relay at {address.base} ({type(error).__name__})"
        )
        if isinstance(error, REFUSED_ERRORS):
            raise _Refused(unreachable) from None
        raise unreachable from None
