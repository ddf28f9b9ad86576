"""Resuming a session after a dropped connection, without a new code.

The relay keeps a session's slot for a grace period but must never learn its keys. So at
each epoch every side gives the relay a *verifier*: the SHA-256 of a one-time resume
secret derived from the PAKE result. To resume, a side presents the secret itself; the
relay checks it against the verifier in constant time and then forgets both. The secret
is a one-way derivation from the session's resume key, so the relay learns nothing it
could decrypt with, and a secret that was used once (stale) or never derived (wrong)
opens nothing.

After a resume both sides switch to a new channel epoch: fresh per-direction keys derived
from the resume key and the epoch number, counters from zero; nothing sealed in one epoch
opens in another. The first message of each side in a new epoch is its `ResumeState`
(not a session message, not recorded): how many messages it has received from the peer
and sent to it so far. Each side then sends again, from its `SentLog`, exactly what the
peer did not get, in the original order, so that no message is lost or doubled and both
recordings' traffic chains stay the same (see protocol/session.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
from collections import deque
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from protocol.channel import Channel, Direction
from protocol.errors import ProtocolError
from protocol.handshake import Role, SessionKeys

SECRET_BYTES = 32
MAX_EPOCH = 10_000
# What a side keeps to send again after a resume. The host's flow-control window keeps
# frame updates in flight few; a peer that missed more than this cannot be made whole.
RESEND_MAX_MESSAGES = 4096
RESEND_MAX_BYTES = 64 * 1024 * 1024
_STATE_MAGIC = b"FWRS\x01"
_STATE = struct.Struct(">5sQQ")
RESUME_STATE_BYTES = _STATE.size  # a ResumeState's plaintext
# How the recording notes a resume (a GAP record): the count of messages this side sent
# again is what recording_verify reads back, to account for the bytes the relay forwarded.
_RESUMED_GAP = re.compile(
    r"resumed after [0-9.]+ s \(channel epoch [0-9]+\); ([0-9]+) messages sent again"
)
MAX_COUNT = 2**48


def _derive(keys: SessionKeys, label: str) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=SECRET_BYTES,
        salt=keys.transcript_hash,
        info=f"fernwartung v1 {label}".encode(),
    )
    return hkdf.derive(keys.resume_key)


def _check_epoch(epoch: int) -> None:
    if not 0 <= epoch <= MAX_EPOCH:
        raise ValueError(f"a session resumes at most {MAX_EPOCH} times")


def resume_secret(keys: SessionKeys, role: Role, epoch: int) -> bytes:
    """What `role` presents to the relay to resume into `epoch` + 1."""
    _check_epoch(epoch)
    return _derive(keys, f"resume {role.value} {epoch}")


def verifier_for(secret: bytes) -> bytes:
    """What the relay stores: the hash of a resume secret."""
    return hashlib.sha256(b"fernwartung resume verifier" + secret).digest()


def secret_matches(secret: bytes, verifier: bytes) -> bool:
    """The relay's check, in constant time."""
    return hmac.compare_digest(verifier_for(secret), verifier)


def epoch_channel(keys: SessionKeys, epoch: int) -> Channel:
    """The channel of `epoch` (0 is the handshake's own channel)."""
    if epoch == 0:
        return keys.channel()
    _check_epoch(epoch)
    host_to_viewer = _derive(keys, f"epoch {epoch} host-to-viewer")
    viewer_to_host = _derive(keys, f"epoch {epoch} viewer-to-host")
    if keys.role is Role.HOST:
        return Channel(host_to_viewer, viewer_to_host, Direction.HOST_TO_VIEWER)
    return Channel(viewer_to_host, host_to_viewer, Direction.VIEWER_TO_HOST)


def resumed_gap_reason(seconds: float, epoch: int, resent: int) -> str:
    """The GAP record's text after a resume."""
    return f"resumed after {seconds:.1f} s (channel epoch {epoch}); {resent} messages sent again"


def resent_in_gap(reason: str) -> int | None:
    """How many messages a resume's GAP record says were sent again (None: another GAP)."""
    found = _RESUMED_GAP.fullmatch(reason)
    return int(found.group(1)) if found else None


@dataclass(frozen=True, slots=True)
class ResumeState:
    """A side's first message in a new epoch: messages received from and sent to the peer."""

    received: int
    sent: int

    def encode(self) -> bytes:
        return _STATE.pack(_STATE_MAGIC, self.received, self.sent)

    @classmethod
    def decode(cls, data: bytes) -> ResumeState:
        if len(data) != _STATE.size:
            raise ProtocolError("the peer's first message after a resume is not a resume state")
        magic, received, sent = _STATE.unpack(data)
        if magic != _STATE_MAGIC or received > MAX_COUNT or sent > MAX_COUNT:
            raise ProtocolError("the peer's first message after a resume is not a resume state")
        return cls(received, sent)


class SentLog:
    """The most recent plaintexts this side sent, by their index in its direction, bounded
    by count and bytes: what a resume may have to send again."""

    def __init__(
        self, max_messages: int = RESEND_MAX_MESSAGES, max_bytes: int = RESEND_MAX_BYTES
    ) -> None:
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._kept: deque[bytes] = deque()
        self._bytes = 0
        self.total = 0  # messages ever sent

    @property
    def first_kept(self) -> int:
        return self.total - len(self._kept)

    def append(self, plaintext: bytes) -> None:
        self._kept.append(plaintext)
        self._bytes += len(plaintext)
        self.total += 1
        while len(self._kept) > 1 and (
            len(self._kept) > self._max_messages or self._bytes > self._max_bytes
        ):
            self._bytes -= len(self._kept.popleft())

    def since(self, index: int) -> list[bytes]:
        """Everything sent from message `index` on (the peer received `index` messages)."""
        if index > self.total:
            raise ProtocolError(
                "after the resume the peer claims more messages than this side ever sent"
            )
        if index < self.first_kept:
            raise ProtocolError(
                f"{self.first_kept - index} messages lost while reconnecting can no longer be "
                "sent again"
            )
        return list(self._kept)[index - self.first_kept :]
