"""The end-to-end AES-256-GCM channel between host and viewer.

Each direction has its own key and a 64-bit message counter. The 96-bit nonce is built
locally from the direction and the counter and never travels; the associated data binds
both. The receiver only accepts the next counter, so anything replayed, reordered,
dropped, truncated, altered or echoed back fails to open.

Wire format of a sealed message: ciphertext || 16-byte GCM tag, nothing else.
"""

from __future__ import annotations

import enum
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protocol.errors import IntegrityError, ProtocolError, SessionEnded

KEY_BYTES = 32
TAG_BYTES = 16
# Far below 2**64: the session ends long before a counter could wrap.
MAX_MESSAGES_PER_DIRECTION = 2**48
_ASSOCIATED_PREFIX = b"fernwartung-channel-v1"


class Direction(enum.IntEnum):
    HOST_TO_VIEWER = 1
    VIEWER_TO_HOST = 2


def nonce_for(direction: Direction, counter: int) -> bytes:
    """4 bytes of direction, 8 bytes of big-endian counter."""
    return struct.pack(">IQ", direction, counter)


def associated_data_for(direction: Direction, counter: int) -> bytes:
    return _ASSOCIATED_PREFIX + struct.pack(">BQ", direction, counter)


class Channel:
    """Seal outgoing and open incoming messages for one side of a session."""

    def __init__(
        self,
        send_key: bytes,
        receive_key: bytes,
        send_direction: Direction,
        *,
        send_counter: int = 0,
        receive_counter: int = 0,
    ) -> None:
        if len(send_key) != KEY_BYTES or len(receive_key) != KEY_BYTES:
            raise ValueError("AES-256-GCM keys are 32 bytes")
        if send_key == receive_key:
            raise ValueError("each direction needs its own key")
        self._send = AESGCM(send_key)
        self._receive = AESGCM(receive_key)
        self.send_direction = send_direction
        self.receive_direction = (
            Direction.VIEWER_TO_HOST
            if send_direction is Direction.HOST_TO_VIEWER
            else Direction.HOST_TO_VIEWER
        )
        self.send_counter = send_counter
        self.receive_counter = receive_counter

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt the next outgoing message."""
        counter = self.send_counter
        if counter >= MAX_MESSAGES_PER_DIRECTION:
            raise SessionEnded("this session has sent as many messages as one key may protect")
        self.send_counter = counter + 1
        return self._send.encrypt(
            nonce_for(self.send_direction, counter),
            plaintext,
            associated_data_for(self.send_direction, counter),
        )

    def open(self, message: bytes) -> bytes:
        """Decrypt the next incoming message or raise IntegrityError."""
        counter = self.receive_counter
        if counter >= MAX_MESSAGES_PER_DIRECTION:
            raise SessionEnded("this session has received as many messages as one key may protect")
        if len(message) < TAG_BYTES:
            raise IntegrityError(
                f"encrypted message {counter} is shorter than its {TAG_BYTES}-byte tag"
            )
        try:
            plaintext = self._receive.decrypt(
                nonce_for(self.receive_direction, counter),
                message,
                associated_data_for(self.receive_direction, counter),
            )
        except InvalidTag:
            raise IntegrityError(
                f"encrypted message {counter} does not authenticate: it was altered, replayed, "
                "reordered or one before it is missing"
            ) from None
        self.receive_counter = counter + 1
        return plaintext


__all__ = ["Channel", "Direction", "IntegrityError", "ProtocolError"]
