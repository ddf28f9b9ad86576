"""The hash of the terms the customer was shown, carried to the viewer in the host's Hello.

The viewer's recording names the terms as the host's does. Hello has no field for them,
and adding one would make every older viewer refuse the Hello (a message has exactly its
fields); so the host lists the SHA-256 as three capabilities, `terms.1.<24 hex>`,
`terms.2.<24 hex>`, `terms.3.<16 hex>`. A viewer that does not know them ignores them
as it ignores any capability it does not understand; a host that does not send them
leaves the viewer's recording without a terms hash, as before.
"""

from __future__ import annotations

TERMS_PREFIX = "terms."
_PARTS = ((1, 0, 24), (2, 24, 48), (3, 48, 64))  # (number, start, end) in the hex digest
_HEX = frozenset("0123456789abcdef")


def terms_capabilities(sha256: bytes) -> tuple[str, ...]:
    """The capabilities that carry `sha256` (none for an absent, all-zero hash)."""
    if len(sha256) != 32 or not any(sha256):
        return ()
    digest = sha256.hex()
    return tuple(f"{TERMS_PREFIX}{number}.{digest[start:end]}" for number, start, end in _PARTS)


def terms_hash_from(capabilities: tuple[str, ...]) -> bytes | None:
    """The terms hash a Hello carries, or None when it carries none (or a malformed one)."""
    parts: dict[int, str] = {}
    for capability in capabilities:
        if not capability.startswith(TERMS_PREFIX):
            continue
        number, _, digits = capability[len(TERMS_PREFIX) :].partition(".")
        parts.setdefault(int(number) if number.isdigit() else 0, digits)
    digest = ""
    for number, start, end in _PARTS:
        digits = parts.get(number, "")
        if len(digits) != end - start or not set(digits) <= _HEX:
            return None
        digest += digits
    return bytes.fromhex(digest)
