"""The relay's web front for the browser viewer (relay/web.py, relay/signin.py): the page's
files with their content types and a strict Content-Security-Policy, the sign-in with
name, token and TOTP, the session cookie and its flags, the cookie on /v1/viewer from the
relay's own page only, rate limits, and revocation ending sign-ins and live sessions.
Real relay over TLS, real HTTP requests."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from fernwartung.cli import main
from protocol import control
from relay.ledger import LEDGER_FILE, Ledger
from relay.limits import RateLimit
from relay.signin import COOKIE_NAME
from relay.static_files import STATIC_DIR
from relay.totp import code_for_step, step_at
from tests.relay.conftest import insecure_context, receive, register, wait_for
from tests.support.relay import RelayInfo, revoke_technician, running_relay

NAME = "Jürgen Technik"


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def _request(port: int, method: str, path: str, headers: dict[str, str]) -> Answer:
    connection = http.client.HTTPSConnection(
        "127.0.0.1", port, context=insecure_context(), timeout=10
    )
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


async def request(relay: RelayInfo, method: str, path: str, **headers: str) -> Answer:
    return await asyncio.to_thread(_request, relay.port, method, path, headers)


def own_page(relay: RelayInfo) -> dict[str, str]:
    """The headers a browser adds to a request of the relay's own page."""
    host = f"127.0.0.1:{relay.port}"
    return {"Host": host, "Origin": f"https://{host}", "Sec-Fetch-Site": "same-origin"}


def add_with_totp(relay: RelayInfo, name: str = NAME) -> tuple[str, str]:
    from relay.totp import new_secret

    secret = new_secret()
    ledger = Ledger(relay.data_dir)
    try:
        return ledger.add_technician(name, totp_secret=secret), secret
    finally:
        ledger.close()


def totp(secret: str, ahead: int = 0) -> str:
    return code_for_step(secret, step_at(time.time()) + ahead)


async def sign_in(
    relay: RelayInfo, token: str, code: str, name: str = NAME, **extra: str
) -> Answer:
    headers = {
        **own_page(relay),
        "Authorization": f"Bearer {token}",
        "X-Fernwartung-Technician": quote(name),
        "X-Fernwartung-Totp": code,
        **extra,
    }
    return await request(relay, "POST", "/v1/signin", **headers)


async def viewer_with_cookie(
    relay: RelayInfo, headers: dict[str, str], origin: str | None = None
) -> ClientConnection:
    """A WebSocket to /v1/viewer as a browser opens it: a cookie, an Origin, no token."""
    return await connect(
        relay.url + "/v1/viewer",
        ssl=insecure_context(),
        additional_headers=headers,
        origin=origin,  # type: ignore[arg-type]
        compression=None,
    )


def cookie_of(answer: Answer) -> str:
    [header] = answer.headers.get_all("Set-Cookie")
    name, _, rest = header.partition("=")
    assert name == COOKIE_NAME
    return rest.split(";", 1)[0]


@pytest.fixture
async def limited_relay(tmp_path: Path):
    async with running_relay(
        tmp_path / "limited",
        sign_in_per_ip=RateLimit(60.0, 3),
        revocation_sweep_seconds=0.1,
    ) as info:
        yield info


async def test_the_page_is_served_with_its_types_and_a_strict_policy(relay):
    page = await request(relay, "GET", "/")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.body == (STATIC_DIR / "index.html").read_bytes()
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "http" not in policy.replace("'self'", "")  # no other origin
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert b"<script>" not in page.body and b" style=" not in page.body
    script = await request(relay, "GET", "/js/app.js")
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    style = await request(relay, "GET", "/app.css")
    assert style.headers["Content-Type"] == "text/css; charset=utf-8"
    vendored = await request(relay, "GET", "/vendor/noble-curves/ed25519.js")
    assert vendored.status == 200
    again = await request(relay, "GET", "/js/app.js", **{"If-None-Match": script.headers["ETag"]})
    assert again.status == 304 and again.body == b""
    for missing in ("/package.json", "/../package.json", "/js/../../http.py", "/vendor/VERSIONS.json",
                    "/vendor/noble-curves/package.json", "/README.md"):  # fmt: skip
        assert (await request(relay, "GET", missing)).status == 404, missing
    assert (await request(relay, "POST", "/")).status == 405


async def test_a_sign_in_needs_name_token_and_a_fresh_totp_and_sets_a_strict_cookie(relay):
    token, secret = add_with_totp(relay)
    assert (
        await sign_in(relay, token, "000000" if totp(secret) != "000000" else "111111")
    ).status == 401
    assert (await sign_in(relay, token + "x", totp(secret))).status == 401
    assert (await sign_in(relay, token, totp(secret), name="Jürgen")).status == 401
    refused = await sign_in(relay, token, "12345")
    assert refused.status == 401 and refused.json()["error"] == "unauthorized"
    assert not refused.headers.get_all("Set-Cookie")

    code = totp(secret)
    answer = await sign_in(relay, token, code)
    assert answer.status == 200, answer.body
    assert answer.json() == {"technician": NAME, "expires_in": 12 * 3600}
    [header] = answer.headers.get_all("Set-Cookie")
    flags = {part.strip().split("=")[0] for part in header.split(";")[1:]}
    assert flags == {"Path", "Max-Age", "Secure", "HttpOnly", "SameSite"}
    assert "SameSite=Strict" in header and "Path=/" in header and "Max-Age=43200" in header
    assert answer.headers["Cache-Control"] == "no-store"
    cookie = cookie_of(answer)
    # The database keeps only its hash.
    assert cookie.encode() not in (relay.data_dir / LEDGER_FILE).read_bytes()

    # A code signs in once.
    assert (await sign_in(relay, token, code)).status == 401
    # The cookie says who is signed in, to the page's own requests.
    status = await request(relay, "GET", "/v1/signin", Cookie=f"{COOKIE_NAME}={cookie}")
    assert status.status == 200 and status.json() == {"technician": NAME}
    assert (await request(relay, "GET", "/v1/signin")).status == 401
    # Signing out ends it.
    out = await request(
        relay, "POST", "/v1/signout", Cookie=f"{COOKIE_NAME}={cookie}", **own_page(relay)
    )
    assert out.status == 200 and "Max-Age=0" in out.headers["Set-Cookie"]
    assert (
        await request(relay, "GET", "/v1/signin", Cookie=f"{COOKIE_NAME}={cookie}")
    ).status == 401


async def test_a_technician_without_a_second_factor_cannot_sign_in_in_the_browser(relay):
    ledger = Ledger(relay.data_dir)
    try:
        token = ledger.add_technician("Ohne Faktor")
    finally:
        ledger.close()
    assert (await sign_in(relay, token, "123456", name="Ohne Faktor")).status == 401


async def test_a_sign_in_from_another_site_is_refused(relay):
    token, secret = add_with_totp(relay)
    foreign = await sign_in(relay, token, totp(secret), Origin="https://evil.example")
    assert foreign.status == 403
    cross = await sign_in(relay, token, totp(secret), **{"Sec-Fetch-Site": "cross-site"})
    assert cross.status == 403


async def test_sign_ins_are_rate_limited_per_address(limited_relay):
    relay = limited_relay
    token, secret = add_with_totp(relay)
    statuses = [(await sign_in(relay, token, "999999")).status for _ in range(4)]
    assert statuses[:3] == [401, 401, 401] and statuses[3] == 429
    # Even the right code waits now.
    assert (await sign_in(relay, token, totp(secret))).status == 429


async def test_the_cookie_opens_the_viewer_path_from_the_relays_own_page_only(relay):
    token, secret = add_with_totp(relay)
    cookie = cookie_of(await sign_in(relay, token, totp(secret)))
    own = own_page(relay)
    headers = {"Cookie": f"{COOKIE_NAME}={cookie}", "Sec-Fetch-Site": "same-origin"}
    host, session = await register(relay)
    viewer = await viewer_with_cookie(relay, headers, own["Origin"])
    await viewer.send(control.encode(control.Join(session=session, version=1)))
    joined = control.decode(await asyncio.wait_for(viewer.recv(), 10))
    assert isinstance(joined, control.Joined) and joined.technician == NAME
    assert await receive(host) == control.PeerJoined(technician=NAME)
    await viewer.close()
    await host.close()
    for origin, extra in (
        ("https://evil.example", {}),
        (own["Origin"], {"Sec-Fetch-Site": "same-site"}),
    ):
        with pytest.raises(InvalidStatus) as refused:
            await viewer_with_cookie(relay, {**headers, **extra}, origin)
        # 401 here; 403 where the relay's Origin allow-list (relay/http.py) answers first
        assert refused.value.response.status_code in (401, 403)
    with pytest.raises(InvalidStatus):
        await viewer_with_cookie(relay, {"Cookie": f"{COOKIE_NAME}=x"})


async def test_revoking_a_technician_ends_their_sign_ins_and_cuts_their_live_session(relay):
    token, secret = add_with_totp(relay)
    cookie = cookie_of(await sign_in(relay, token, totp(secret)))
    headers = {"Cookie": f"{COOKIE_NAME}={cookie}"}
    host, session = await register(relay)
    viewer = await viewer_with_cookie(relay, headers, own_page(relay)["Origin"])
    await viewer.send(control.encode(control.Join(session=session, version=1)))
    assert isinstance(control.decode(await asyncio.wait_for(viewer.recv(), 10)), control.Joined)
    assert isinstance(await receive(host), control.PeerJoined)
    await host.send_control(control.Consent(level=control.ReportedConsent.CONTROL))
    # The relay has the consent before the revocation (a revocation reaches it at once).
    await wait_for(
        lambda: relay.relay.ledger.session_rows()[0]["consent_level"] == "control", "consent"
    )

    revoke_technician(relay.data_dir, NAME)  # as `fernwartung technician revoke` would
    refusal = control.decode(await asyncio.wait_for(viewer.recv(), 10))
    assert isinstance(refusal, control.Error) and refusal.code is control.ErrorCode.REVOKED
    left = await receive(host)
    assert isinstance(left, control.PeerLeft) and "revoked" in left.reason
    await wait_for(
        lambda: relay.relay.ledger.session_rows()[0]["end_reason"] == "revoked", "ledger row"
    )
    # The cookie is refused from now on, at the page's status and on the viewer path.
    assert (
        await request(relay, "GET", "/v1/signin", Cookie=f"{COOKIE_NAME}={cookie}")
    ).status == 401
    with pytest.raises(InvalidStatus):
        await viewer_with_cookie(relay, headers, own_page(relay)["Origin"])
    assert (await sign_in(relay, token, totp(secret, 1))).status == 401
    await host.close()


def test_technician_add_totp_shows_secret_and_qr_with_the_token_last(tmp_path, capsys):
    assert main(["technician", "add", NAME, "--totp", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    token = lines[-1]
    assert len(token) >= 40 and " " not in token
    [secret] = [line.split(": ", 1)[1] for line in lines if line.startswith("secret: ")]
    [uri] = [line.split(": ", 1)[1] for line in lines if line.startswith("uri: ")]
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    assert sum("█" in line or "▀" in line or "▄" in line for line in lines) > 10  # the QR code
    ledger = Ledger(tmp_path)
    try:
        found = ledger.sign_in_candidate(NAME, token)
        assert found is not None and found[1] == secret
    finally:
        ledger.close()
    assert main(["technician", "totp", NAME, "--data-dir", str(tmp_path)]) == 0
    new_secret = [
        line.split(": ", 1)[1]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("secret: ")
    ]
    assert new_secret and new_secret[0] != secret
