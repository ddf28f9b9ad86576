"""The technician's sign-in for the browser viewer: name, token and a TOTP code once, then
a session cookie that the page's WebSocket to /v1/viewer carries instead of the token.

    POST /v1/signin   Authorization: Bearer <token>
                      X-Fernwartung-Technician: <name, percent-encoded UTF-8>
                      X-Fernwartung-Totp: <6 digits>
        200 {"technician", "expires_in"} and Set-Cookie; 401 / 403 / 429 / 503 otherwise
    GET  /v1/signin   200 {"technician", "expires_in"} while the cookie is good, else 401
    POST /v1/signout  the sign-in ends here and on every relay; the cookie is cleared

Why headers and not a form: the relay's HTTP is websockets' Sans-I/O request parser, which
reads no request body (a request with one is dropped), and a request with credentials in
headers cannot be sent across origins without a CORS preflight, which the relay never
grants: no other site can make a browser sign in here. The cookie is `__Host-` prefixed
(Secure, Path=/, no Domain), HttpOnly (the page's scripts never see it), SameSite=Strict
(no other site's request carries it) and expires after SIGN_IN_TTL_SECONDS; the database
keeps only its hash (`sign_ins`), so it holds on every relay of one database and ends with
a revocation of the technician.

Every refusal of a name, token or code has the same words (no oracle which of them was
wrong). Attempts are rate-limited per address and per technician name, with the back-off
of relay/limits.py, as joins are; a TOTP code signs in once (its time step is marked used
in the database).
"""

from __future__ import annotations

import contextlib
import http
import time
from urllib.parse import unquote, urlsplit

from websockets.http11 import Request, Response

from relay.bearer import bearer_token
from relay.core import RelayCore
from relay.database import DatabaseUnavailable, Technician
from relay.limits import RateLimiter
from relay.totp import matching_step
from relay.web_headers import json_response

SIGN_IN_PATH = "/v1/signin"
SIGN_OUT_PATH = "/v1/signout"
COOKIE_NAME = "__Host-fernwartung-signin"
SIGN_IN_TTL_SECONDS = 12 * 3600  # a working day; then the technician signs in again
NAME_HEADER = "X-Fernwartung-Technician"
TOTP_HEADER = "X-Fernwartung-Totp"
MAX_NAME_CHARS = 64
MAX_COOKIE_CHARS = 128
REFUSED = "name, token or one-time code not accepted"


def _one_header(request: Request, name: str, max_chars: int) -> str | None:
    values = request.headers.get_all(name)
    if len(values) != 1 or len(values[0]) > 3 * max_chars:
        return None
    return values[0].strip()


def sign_in_cookie(request: Request) -> str | None:
    """The sign-in token of the request's cookie, if it carries exactly one."""
    found = []
    for header in request.headers.get_all("Cookie"):
        for part in header.split(";"):
            name, separator, value = part.strip().partition("=")
            if separator and name == COOKIE_NAME:
                found.append(value.strip())
    if len(found) != 1 or not 0 < len(found[0]) <= MAX_COOKIE_CHARS:
        return None
    return found[0]


def from_own_page(request: Request) -> bool:
    """The request comes from a page of this relay's own origin: the browser says so
    (`Sec-Fetch-Site`, when it sends it) and its Origin names the host it asked (a request
    carrying the cookie names this relay's host: the cookie is bound to it)."""
    site = request.headers.get_all("Sec-Fetch-Site")
    if site and site != ["same-origin"]:
        return False
    origins = request.headers.get_all("Origin")
    hosts = request.headers.get_all("Host")
    if len(origins) != 1 or len(hosts) != 1:
        return False
    origin = urlsplit(origins[0].strip())
    return origin.scheme in ("https", "http") and origin.netloc.lower() == hosts[0].lower()


def cookie_header(token: str, max_age: int) -> tuple[str, str]:
    return (
        "Set-Cookie",
        f"{COOKIE_NAME}={token}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict",
    )


class SignIn:
    """The sign-in API of one relay (answers as relay/web.py routes them)."""

    def __init__(self, core: RelayCore, *, https: bool) -> None:
        self._core = core
        self._https = https
        limits = core.limits
        self._per_ip = RateLimiter(limits.sign_in_per_ip)
        self._per_name = RateLimiter(limits.sign_in_per_technician)

    def _answer(
        self,
        status: http.HTTPStatus,
        value: dict[str, object],
        extra: list[tuple[str, str]] | None = None,
    ) -> Response:
        return json_response(status, value, https=self._https, extra=extra)

    def _refuse(self, status: http.HTTPStatus, code: str, message: str, ip: str) -> Response:
        self._core.log.event("sign_in_refused", reason=code, ip=ip)
        self._core.metrics.connections_refused_http[str(status.value)] += 1
        return self._answer(status, {"error": code, "message": message})

    async def sign_in(self, request: Request, ip: str) -> Response:
        core = self._core
        if not from_own_page(request):
            return self._refuse(
                http.HTTPStatus.FORBIDDEN, "origin", "sign in on the relay's own page", ip
            )
        now = core.now()
        if self._per_ip.is_blocked(ip, now) or not self._per_ip.allow(ip, now):
            return self._refuse(
                http.HTTPStatus.TOO_MANY_REQUESTS, "rate_limited", "too many sign-ins; wait", ip
            )
        token = bearer_token(request)
        raw_name = _one_header(request, NAME_HEADER, MAX_NAME_CHARS)
        code = _one_header(request, TOTP_HEADER, 16)
        name = unquote(raw_name, errors="strict") if raw_name is not None else None
        if token is None or not name or len(name) > MAX_NAME_CHARS or code is None:
            return self._refuse(http.HTTPStatus.UNAUTHORIZED, "unauthorized", REFUSED, ip)
        if not self._per_name.allow(name, now):
            return self._refuse(
                http.HTTPStatus.TOO_MANY_REQUESTS, "rate_limited", "too many sign-ins; wait", ip
            )
        try:
            technician = await self._check(name, token, code)
            if technician is None:
                return self._refuse(http.HTTPStatus.UNAUTHORIZED, "unauthorized", REFUSED, ip)
            cookie = await core.db(
                core.ledger.create_sign_in, technician.id, time.time(), SIGN_IN_TTL_SECONDS
            )
            core.record(core.ledger.forget_expired_sign_ins, time.time())
        except DatabaseUnavailable:
            return self._refuse(
                http.HTTPStatus.SERVICE_UNAVAILABLE, "database_unavailable",
                "the service cannot sign anyone in right now", ip,
            )  # fmt: skip
        core.log.event("signed_in", technician=technician.name, ip=ip)
        return self._answer(
            http.HTTPStatus.OK,
            {"technician": technician.name, "expires_in": SIGN_IN_TTL_SECONDS},
            [cookie_header(cookie, SIGN_IN_TTL_SECONDS)],
        )

    async def _check(self, name: str, token: str, code: str) -> Technician | None:
        """The technician, when name, token and code all fit and the code is unused."""
        core = self._core
        found = await core.db(core.ledger.sign_in_candidate, name, token)
        if found is None:
            return None
        technician, secret = found
        if secret is None:
            return None  # no second factor set up: no browser sign-in
        step = matching_step(secret, code, time.time())
        if step is None or not await core.db(core.ledger.use_totp_step, technician.id, step):
            return None
        return technician

    async def status(self, request: Request, ip: str) -> Response:
        technician = await self.technician_for(request)
        if technician is None:
            return self._answer(
                http.HTTPStatus.UNAUTHORIZED, {"error": "unauthorized", "message": "not signed in"}
            )
        return self._answer(http.HTTPStatus.OK, {"technician": technician.name})

    async def sign_out(self, request: Request, ip: str) -> Response:
        if not from_own_page(request):
            return self._refuse(http.HTTPStatus.FORBIDDEN, "origin", "sign out on the page", ip)
        cookie = sign_in_cookie(request)
        if cookie is not None:
            # Unreachable: the cookie is cleared below; the row expires by itself.
            with contextlib.suppress(DatabaseUnavailable):
                await self._core.db(self._core.ledger.end_sign_in, cookie)
        return self._answer(http.HTTPStatus.OK, {}, [cookie_header("", 0)])

    async def technician_for(self, request: Request) -> Technician | None:
        """The technician a request's sign-in cookie stands for (expired, ended, revoked
        or foreign: None). Only for a request of the relay's own page."""
        cookie = sign_in_cookie(request)
        if cookie is None or not from_own_page_or_same_site_get(request):
            return None
        core = self._core
        return await core.db(core.ledger.technician_for_sign_in, cookie, time.time())


def from_own_page_or_same_site_get(request: Request) -> bool:
    """A WebSocket upgrade carries an Origin (checked); a plain same-origin GET may not."""
    if request.headers.get_all("Origin") or request.headers.get("Upgrade"):
        return from_own_page(request)
    site = request.headers.get_all("Sec-Fetch-Site")
    return not site or site == ["same-origin"]
