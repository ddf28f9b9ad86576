"""What every answer of the relay's web front carries: the Content-Security-Policy and the
other hardening headers, and the builders of plain, JSON and file responses.

The policy lets the page load its own scripts, styles and workers and talk to its own
relay, nothing else: no inline script or style, no `eval`, no other origin, no frames,
no form posting anywhere (the page signs in with `fetch`). `blob:` is allowed for images
(a recording offered for download) and nothing else.
"""

from __future__ import annotations

import email.utils
import http
import json

from websockets.datastructures import Headers
from websockets.http11 import Response

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",
        "connect-src 'self'",
        "worker-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), "
    "display-capture=(), fullscreen=(self)"
)
HSTS = "max-age=31536000"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


def hardening_headers(*, https: bool) -> list[tuple[str, str]]:
    """The headers every web answer carries (`https`: the page is reached over TLS, here
    or at the operator's proxy)."""
    headers = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Permissions-Policy", PERMISSIONS_POLICY),
    ]
    if https:
        headers.append(("Strict-Transport-Security", HSTS))
    return headers


def response(
    status: http.HTTPStatus,
    body: bytes,
    content_type: str,
    *,
    https: bool,
    extra: list[tuple[str, str]] | None = None,
    head_only: bool = False,
) -> Response:
    """One complete answer; the connection closes after it (websockets answers one
    request per connection that does not upgrade)."""
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
            *hardening_headers(https=https),
            *(extra or []),
        ]
    )
    return Response(status.value, status.phrase, headers, b"" if head_only else body)


def json_response(
    status: http.HTTPStatus,
    value: dict[str, object],
    *,
    https: bool,
    extra: list[tuple[str, str]] | None = None,
) -> Response:
    """A JSON answer of the sign-in API, never cached."""
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    headers = [("Cache-Control", "no-store"), *(extra or [])]
    return response(status, body, JSON_CONTENT_TYPE, https=https, extra=headers)


def text_response(status: http.HTTPStatus, text: str, *, https: bool) -> Response:
    return response(
        status, text.encode(), TEXT_CONTENT_TYPE, https=https, extra=[("Cache-Control", "no-store")]
    )
