"""The second factor of a technician's browser sign-in: time-based one-time passwords as
RFC 6238 has them (HMAC-SHA1, 6 digits, 30 s steps), which every authenticator app reads
from the `otpauth://` URI that `fernwartung technician add NAME --totp` shows as a QR code.

Sans I/O: time is passed in. A code is accepted for the current step and one step either
side (clocks drift, people type slowly); the step it matched is returned so the caller can
refuse the same code a second time (the database keeps the last step used).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

TOTP_DIGITS = 6
TOTP_STEP_SECONDS = 30
TOTP_SECRET_BYTES = 20  # 160 bits, the size RFC 4226 recommends for HMAC-SHA1
TOTP_WINDOW_STEPS = 1
TOTP_ISSUER = "fernwartung"


def new_secret() -> str:
    """A fresh shared secret in base32 without padding (as authenticator apps take it)."""
    return base64.b32encode(secrets.token_bytes(TOTP_SECRET_BYTES)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    text = secret.strip().replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def step_at(now: float) -> int:
    """The time step of a wall-clock time (seconds since the epoch)."""
    return int(now // TOTP_STEP_SECONDS)


def code_for_step(secret: str, step: int) -> str:
    """The code of one time step (RFC 4226's HOTP with the step as the counter)."""
    digest = hmac.new(_key(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**TOTP_DIGITS).zfill(TOTP_DIGITS)


def code_at(secret: str, now: float) -> str:
    """The code an authenticator shows at `now`."""
    return code_for_step(secret, step_at(now))


def matching_step(
    secret: str, code: str, now: float, window: int = TOTP_WINDOW_STEPS
) -> int | None:
    """The step whose code `code` is, within `window` steps of `now`; None if none is.
    Every candidate is compared in constant time, and all of them always."""
    if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
        return None
    current = step_at(now)
    found = None
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(code_for_step(secret, step), code) and found is None:
            found = step
    return found


def provisioning_uri(secret: str, technician: str, relay: str = "") -> str:
    """The `otpauth://totp/...` URI an authenticator app reads (from the QR code)."""
    label = f"{TOTP_ISSUER} ({relay}):{technician}" if relay else f"{TOTP_ISSUER}:{technician}"
    query = urlencode(
        {
            "secret": secret,
            "issuer": TOTP_ISSUER,
            "algorithm": "SHA1",
            "digits": TOTP_DIGITS,
            "period": TOTP_STEP_SECONDS,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{quote(label, safe='')}?{query}"
