"""The browser sign-in's second factor (relay/totp.py) against RFC 6238's own test values."""

from __future__ import annotations

import base64

import pytest

from relay import totp

# RFC 6238, appendix B (SHA-1): the secret is the ASCII of "12345678901234567890"; the
# values there have 8 digits, a 6-digit code is their last 6.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VALUES = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("now", "value"), RFC_VALUES)
def test_codes_are_rfc_6238s(now, value):
    assert totp.code_at(RFC_SECRET, now) == value[-6:]


def test_a_code_matches_its_step_and_one_step_either_side_only():
    secret = totp.new_secret()
    now = 1_790_000_015.0
    code = totp.code_at(secret, now)
    step = totp.step_at(now)
    assert totp.matching_step(secret, code, now) == step
    assert totp.matching_step(secret, code, now + 30) == step
    assert totp.matching_step(secret, code, now - 30) == step
    assert totp.matching_step(secret, code, now + 60) is None
    assert totp.matching_step(secret, "12345", now) is None
    assert totp.matching_step(secret, "12345a", now) is None
    assert totp.matching_step(secret, "１２３４５６", now) is None  # other digits than ASCII


def test_the_uri_names_issuer_technician_and_secret():
    secret = totp.new_secret()
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == totp.TOTP_SECRET_BYTES
    uri = totp.provisioning_uri(secret, "Jürgen")
    assert uri.startswith("otpauth://totp/fernwartung%3AJ%C3%BCrgen?")
    assert f"secret={secret}" in uri and "issuer=fernwartung" in uri and "period=30" in uri
