"""The relay's HTTP front: health and metrics, routing, and the technician's token check,
all answered during the WebSocket opening handshake (`process_request`)."""

from __future__ import annotations

import http
import ipaddress
from collections.abc import Callable

from websockets.http11 import Request, Response

from relay.connection import Connection
from relay.core import RelayCore
from relay.database import DatabaseUnavailable
from relay.farewell import DATABASE_UNAVAILABLE_TEXT
from relay.limits import RateLimiter

HOST_PATH = "/v1/host"
VIEWER_PATH = "/v1/viewer"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
MAX_TOKEN_CHARS = 256
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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


class Gatekeeper:
    """Decides which HTTP requests become WebSocket connections."""

    def __init__(
        self,
        core: RelayCore,
        *,
        gauges: Callable[[], dict[str, dict[str, int]]],
        connection_count: Callable[[], int],
    ) -> None:
        self._core = core
        self._gauges = gauges
        self._connection_count = connection_count
        self._auth_failures = RateLimiter(core.limits.auth_failures_per_ip)

    def client_ip(self, connection: Connection, request: Request) -> str:
        """The peer's address; behind a proxy, the last X-Forwarded-For entry (the one the
        operator's proxy added; earlier entries are whatever the client claimed); behind a
        TCP load balancer, the address its PROXY protocol header gave."""
        if self._core.config.behind_proxy:
            forwarded = request.headers.get_all("X-Forwarded-For")
            if forwarded:
                candidate = forwarded[-1].split(",")[-1].strip()
                try:
                    return str(ipaddress.ip_address(candidate))
                except ValueError:
                    pass
        transport = connection.transport
        if transport is None:
            return "unknown"
        proxied = transport.get_extra_info("client_ip")  # from a PROXY protocol header
        if proxied is not None:
            return str(proxied)
        address = transport.get_extra_info("peername")
        return str(address[0]) if address else "unknown"

    def _refuse(self, connection: Connection, status: http.HTTPStatus, text: str) -> Response:
        core = self._core
        core.metrics.connections_refused_http[str(status.value)] += 1
        core.log.event("http_refused", status=status.value, ip=connection.ip)
        return connection.respond(status, text)

    async def process_request(self, connection: Connection, request: Request) -> Response | None:
        core = self._core
        path = request.path.split("?", 1)[0]
        if path == HEALTH_PATH:
            if core.stopping:
                return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "stopping\n")
            return connection.respond(http.HTTPStatus.OK, "ok\n")
        if path == METRICS_PATH:
            response = connection.respond(http.HTTPStatus.OK, core.metrics.render(self._gauges))
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = PROMETHEUS_CONTENT_TYPE
            return response
        if path not in (HOST_PATH, VIEWER_PATH):
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        if core.stopping:
            return self._refuse(
                connection, http.HTTPStatus.SERVICE_UNAVAILABLE, "the relay is shutting down\n"
            )
        if self._connection_count() > core.limits.max_connections:
            return self._refuse(connection, http.HTTPStatus.SERVICE_UNAVAILABLE, "too busy\n")
        if path == HOST_PATH:
            return None
        ip = connection.ip
        if self._auth_failures.is_blocked(ip, core.now()):
            return self._refuse(
                connection, http.HTTPStatus.TOO_MANY_REQUESTS, "too many refused tokens\n"
            )
        token = bearer_token(request)
        technician = None
        if token is not None:
            try:
                technician = await core.db(core.ledger.technician_for_token, token)
            except DatabaseUnavailable:  # a token not seen lately, and no database to ask
                return self._refuse(
                    connection,
                    http.HTTPStatus.SERVICE_UNAVAILABLE,
                    DATABASE_UNAVAILABLE_TEXT + "\n",
                )
        if technician is None:
            self._auth_failures.allow(ip, core.now())
            response = self._refuse(
                connection, http.HTTPStatus.UNAUTHORIZED, "a valid technician token is needed\n"
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="fernwartung"'
            return response
        connection.technician = technician
        return None
