"""The technician's token as a request carries it: `Authorization: Bearer <token>`."""

from __future__ import annotations

from websockets.http11 import Request

MAX_TOKEN_CHARS = 256


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if well formed."""
    values = request.headers.get_all("Authorization")
    if len(values) != 1:
        return None
    scheme, _, token = values[0].partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
        return None
    return token
