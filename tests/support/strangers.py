"""Unauthenticated clients that send the relay a large first message, as an attacker would
(issue 20, point 1): TLS, the WebSocket upgrade, then the header of one text frame
announcing `announced` bytes and its payload in chunks, until the relay closes the
connection or everything but the last byte is sent (so a relay that buffers first
messages holds all of it). Blocking sockets, one thread per client, so that what "sent"
means is what the relay's socket took. Used by tests/relay/test_strangers.py and
benchmarks/preauth_memory.py.

    outcomes = send_large_first_messages(port, 40, 16 * 1024 * 1024)   # blocks
    outcomes[0].close_code   # 1009: refused on the header; None: the relay never closed
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import threading
from dataclasses import dataclass

CHUNK_BYTES = 64 * 1024
OPCODE_TEXT = 0x1
OPCODE_CLOSE = 0x8
SOCKET_TIMEOUT_SECONDS = 60.0
SEND_BUFFER_BYTES = 64 * 1024  # so that what the kernel holds for us stays small


def insecure_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def upgrade_request(path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def text_frame_header(length: int) -> bytes:
    """A masked, final text frame of `length` bytes (mask 0: the payload goes as it is)."""
    return bytes([0x80 | OPCODE_TEXT, 0x80 | 127]) + length.to_bytes(8, "big") + bytes(4)


@dataclass
class Outcome:
    upgraded: bool = False
    payload_sent: int = 0  # bytes of the payload its socket took (kernel buffers included)
    close_code: int | None = None  # of the relay's close frame
    texts: int = 0  # text frames (error messages) before the close
    reset: bool = False  # the relay cut the connection while the payload was being sent
    error: str | None = None  # the client could not even upgrade


class _Reader:
    """Bytes from a TLS socket, kept across calls."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock = sock
        self.buffer = b""

    def exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.buffer += data
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.buffer += data
        head, _, self.buffer = self.buffer.partition(marker)
        return head + marker


def _read_frames(reader: _Reader, outcome: Outcome) -> None:
    """The relay's frames until its close frame (or the end of the connection)."""
    with contextlib.suppress(EOFError, OSError):
        while True:
            head = reader.exactly(2)
            length = head[1] & 0x7F
            if length == 126:
                length = int.from_bytes(reader.exactly(2), "big")
            elif length == 127:
                length = int.from_bytes(reader.exactly(8), "big")
            payload = reader.exactly(length)
            opcode = head[0] & 0x0F
            if opcode == OPCODE_CLOSE:
                outcome.close_code = int.from_bytes(payload[:2], "big") if payload else 1005
                return
            outcome.texts += opcode == OPCODE_TEXT


def send_large_first_message(
    port: int, announced: int, *, path: str = "/v1/host", local_address: str | None = None
) -> Outcome:
    outcome = Outcome()
    try:
        raw = socket.create_connection(
            ("127.0.0.1", port),
            timeout=SOCKET_TIMEOUT_SECONDS,
            source_address=(local_address, 0) if local_address else None,
        )
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        tls = insecure_context().wrap_socket(raw, server_hostname="relay")
    except OSError as error:
        outcome.error = type(error).__name__
        return outcome
    with tls:
        reader = _Reader(tls)
        try:
            tls.sendall(upgrade_request(path))
            outcome.upgraded = reader.until(b"\r\n\r\n").startswith(b"HTTP/1.1 101")
        except (OSError, EOFError) as error:
            outcome.error = type(error).__name__
            return outcome
        if not outcome.upgraded:
            return outcome
        chunk = os.urandom(CHUNK_BYTES)
        try:
            tls.sendall(text_frame_header(announced))
            while outcome.payload_sent < announced - 1:
                if reader.buffer or tls.pending() or select.select([tls], [], [], 0)[0]:
                    break  # the relay said something: its close
                size = min(CHUNK_BYTES, announced - 1 - outcome.payload_sent)
                tls.sendall(chunk[:size])
                outcome.payload_sent += size
        except OSError:
            outcome.reset = True
        _read_frames(reader, outcome)
    return outcome


def send_large_first_messages(
    port: int, count: int, announced: int, *, path: str = "/v1/host"
) -> list[Outcome]:
    """`count` attackers at once, each in its own thread; their outcomes."""
    outcomes: list[Outcome] = [Outcome() for _ in range(count)]

    def attack(index: int) -> None:
        outcomes[index] = send_large_first_message(port, announced, path=path)

    threads = [threading.Thread(target=attack, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
