"""Real headless Chromium for the browser viewer's tests, through Playwright from PyPI.

Debian's `chromium` is used (found with `shutil.which`; `playwright install` cannot
download a browser here), with a fresh profile per test. The relay's self-signed
certificate is trusted by its public key: `--ignore-certificate-errors-spki-list` with the
base64 SHA-256 of the certificate's SubjectPublicKeyInfo, which Chromium honours only with
an explicit `--user-data-dir`, hence a persistent context on a new folder. Nothing else is
trusted: another certificate on the same address would still be refused.

    async with chromium(tmp_path, relay.data_dir) as context:
        page = await context.new_page()
        await page.goto(relay_page_url(relay))
        await sign_in(page, "Erika Muster", token, secret)
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from relay.ledger import Ledger
from relay.tls import SELF_SIGNED_CERT_FILE
from relay.totp import code_for_step, step_at

# What the brief for running as root in a container asks (no sandbox, no GPU, nothing
# fetched from outside), plus the certificate pin.
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
PAGE_TIMEOUT_MS = 30_000


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed (apt-get install chromium); .ci/run installs it")
    return path


def spki_hash(certificate: Path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate, as Chromium pins it."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@asynccontextmanager
async def chromium(
    profile: Path, relay_data_dir: Path, *, locale: str = "en-US", viewport=(1280, 800)
) -> AsyncIterator:
    """A Chromium context that trusts the relay's certificate (and nothing else new)."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("playwright is not installed: python3 -m pip install -e '.[dev]'")
    pin = spki_hash(relay_data_dir / SELF_SIGNED_CERT_FILE)
    profile.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium_path(),
            headless=True,
            args=[*CHROMIUM_FLAGS, f"--ignore-certificate-errors-spki-list={pin}"],
            locale=locale,
            viewport={"width": viewport[0], "height": viewport[1]},
            accept_downloads=True,
        )
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        try:
            yield context
        finally:
            await context.close()


def page_url(relay_url: str) -> str:
    """https://HOST:PORT/ of a relay's wss://HOST:PORT."""
    return relay_url.replace("wss://", "https://", 1).replace("ws://", "http://", 1) + "/"


def add_technician_with_totp(data_dir: Path, name: str) -> tuple[str, str]:
    """A technician with a second factor: (token, TOTP secret)."""
    from relay.totp import new_secret

    secret = new_secret()
    ledger = Ledger(data_dir)
    try:
        return ledger.add_technician(name, totp_secret=secret), secret
    finally:
        ledger.close()


def totp_code(secret: str, ahead: int = 0) -> str:
    """The authenticator's code now, or `ahead` steps later: a code signs in once, and the
    relay takes the next step's code too (one step either side), so a second sign-in in
    the same 30 s uses ahead=1 instead of waiting."""
    return code_for_step(secret, step_at(time.time()) + ahead)


async def sign_in(page, name: str, token: str, totp_code: str) -> None:
    """Fill the page's sign-in form and wait for the code entry."""
    await page.fill("#signin-name", name)
    await page.fill("#signin-token", token)
    await page.fill("#signin-totp", totp_code)
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_selector("#code-view:not([hidden])")
