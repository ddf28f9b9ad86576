"""The PROXY protocol (versions 1 and 2, as HAProxy specifies it): how a TCP load balancer
that passes TLS through to the relays tells each relay the client's address, in a header
before the first byte of the client's own.

`parse_header` is sans-I/O: bytes in, the client's address and the header's length out
(None while more bytes are needed); anything else is `ProxyHeaderError`. `read_header`
reads exactly the header from a freshly accepted socket, without taking a byte of what
follows (the TLS handshake), then hands the socket on with the address.

Only a load balancer may send this header: with `--proxy-protocol` the relay believes it
from whoever connects, so the relay's port must be reachable from the balancer alone.
A header with no address (v2 LOCAL, v1 UNKNOWN: the balancer's own health checks) leaves
the connection's own peer address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

V1_PREFIX = b"PROXY "
V1_MAX_BYTES = 107  # the specification's longest v1 line, CRLF included
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED_BYTES = 16
V2_MAX_ADDRESS_BYTES = 512  # addresses and TLVs a balancer may add; more is refused
MAX_HEADER_BYTES = V2_FIXED_BYTES + V2_MAX_ADDRESS_BYTES


class ProxyHeaderError(Exception):
    """The bytes before the client's are not a PROXY protocol header."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    client_ip: str | None  # None: no address given (a health check of the balancer)
    length: int  # bytes of the header, to be taken off the stream


def parse_header(data: bytes) -> ProxyHeader | None:
    """The header at the start of `data`, or None if `data` is a beginning of one."""
    if data[: len(V2_SIGNATURE)] == V2_SIGNATURE[: len(data)] and len(data) < len(V2_SIGNATURE):
        return None
    if data.startswith(V2_SIGNATURE):
        return _parse_v2(data)
    if V1_PREFIX.startswith(data[: len(V1_PREFIX)]):
        return _parse_v1(data)
    raise ProxyHeaderError("the connection does not start with a PROXY protocol header")


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX_BYTES)
    if end < 0:
        if len(data) >= V1_MAX_BYTES or b"\n" in data:
            raise ProxyHeaderError("the PROXY v1 line is too long or not ended by CRLF")
        return None
    words = data[:end].split(b" ")
    if words[0] != b"PROXY" or len(words) < 2:
        raise ProxyHeaderError("not a PROXY v1 line")
    if words[1] == b"UNKNOWN":
        return ProxyHeader(None, end + 2)
    if words[1] not in (b"TCP4", b"TCP6") or len(words) != 6:
        raise ProxyHeaderError("a PROXY v1 line is TCP4|TCP6 SOURCE DEST SPORT DPORT")
    family = 4 if words[1] == b"TCP4" else 6
    try:
        source = ipaddress.ip_address(words[2].decode("ascii"))
        ipaddress.ip_address(words[3].decode("ascii"))
        ports = [int(word) for word in words[4:]]
    except (UnicodeDecodeError, ValueError):
        raise ProxyHeaderError("a PROXY v1 line with addresses that are not addresses") from None
    if source.version != family or not all(0 <= port <= 65535 for port in ports):
        raise ProxyHeaderError("a PROXY v1 line with addresses that are not addresses")
    return ProxyHeader(str(source), end + 2)


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < V2_FIXED_BYTES:
        return None
    version_command, family, length = struct.unpack_from("!BBH", data, len(V2_SIGNATURE))
    if version_command >> 4 != 2 or version_command & 0x0F not in (0, 1):
        raise ProxyHeaderError("a PROXY v2 header of an unknown version or command")
    if length > V2_MAX_ADDRESS_BYTES:
        raise ProxyHeaderError("a PROXY v2 header longer than the relay takes")
    total = V2_FIXED_BYTES + length
    if len(data) < total:
        return None
    if version_command & 0x0F == 0:  # LOCAL: the balancer's own connection
        return ProxyHeader(None, total)
    body = data[V2_FIXED_BYTES:total]
    address_family = family >> 4
    if address_family == 1 and length >= 12:  # IPv4: source, destination, ports
        return ProxyHeader(str(ipaddress.IPv4Address(body[:4])), total)
    if address_family == 2 and length >= 36:  # IPv6
        return ProxyHeader(str(ipaddress.IPv6Address(body[:16])), total)
    if address_family in (0, 3):  # unspecified, or a Unix socket: no client address
        return ProxyHeader(None, total)
    raise ProxyHeaderError("a PROXY v2 header whose addresses do not fit")


# the I/O part: one accepted socket


Admit = Callable[[socket.socket, str], None]


def read_header(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    peer_ip: str,
    timeout_seconds: float,
    admit: Admit,
    done: Callable[[], None],
) -> None:
    """Read the PROXY header off non-blocking `sock`, then `admit(sock, client_ip)`; a
    socket without a valid header within `timeout_seconds` is closed. `done()` is called
    either way, once."""
    _HeaderReader(loop, sock, peer_ip, timeout_seconds, admit, done)


class _HeaderReader:
    __slots__ = ("_loop", "_sock", "_peer_ip", "_admit", "_done", "_timer", "_fd")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        peer_ip: str,
        timeout_seconds: float,
        admit: Admit,
        done: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._peer_ip = peer_ip
        self._admit = admit
        self._done = done
        self._fd = sock.fileno()
        self._timer = loop.call_later(timeout_seconds, self._give_up)
        loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        try:
            # Peek: the TLS handshake behind the header must stay in the socket.
            data = self._sock.recv(MAX_HEADER_BYTES, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._give_up()
            return
        if not data:
            self._give_up()
            return
        try:
            header = parse_header(data)
        except ProxyHeaderError:
            self._give_up()
            return
        if header is None:
            if len(data) >= MAX_HEADER_BYTES:
                self._give_up()
            return
        try:
            taken = self._sock.recv(header.length)
        except OSError:
            self._give_up()
            return
        if len(taken) != header.length:
            self._give_up()
            return
        self._finish()
        self._admit(self._sock, header.client_ip or self._peer_ip)

    def _finish(self) -> None:
        self._timer.cancel()
        self._loop.remove_reader(self._fd)
        self._done()

    def _give_up(self) -> None:
        self._finish()
        self._sock.close()
