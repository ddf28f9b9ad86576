"""SHA-256 fingerprints of TLS certificates, as the relay prints them and clients pin them."""

from __future__ import annotations

import hashlib


def fingerprint(der_certificate: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate as lowercase hex."""
    return hashlib.sha256(der_certificate).hexdigest()


def normalise_fingerprint(text: str) -> str:
    """Accept a fingerprint with or without colons, in either case."""
    compact = text.replace(":", "").replace(" ", "").lower()
    if len(compact) != 64 or any(c not in "0123456789abcdef" for c in compact):
        raise ValueError("a SHA-256 fingerprint is 64 hex digits (colons allowed)")
    return compact
