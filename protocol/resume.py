"""Resuming a session after a dropped connection, without a new code.

The relay keeps a session's slot for a grace period but must never learn its keys. So at
each epoch every side gives the relay a *verifier*: the SHA-256 of a one-time resume
secret derived from the PAKE result. To resume, a side presents the secret itself; the
relay checks it against the verifier in constant time and then forgets both. The secret
is a one-way derivation from the session's resume key, so the relay learns nothing it
could decrypt with, and a secret that was used once (stale) or never derived (wrong)
opens nothing.

After a resume both sides switch to a new channel epoch: fresh per-direction keys derived
from the resume key and the epoch number, counters from zero. Messages lost in the gap
stay lost (the host sends a full frame), and nothing sealed in one epoch opens in another.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from protocol.channel import Channel, Direction
from protocol.handshake import Role, SessionKeys

SECRET_BYTES = 32
MAX_EPOCH = 10_000


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
