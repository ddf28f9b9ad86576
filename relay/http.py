"""The relay's HTTP front: health and metrics, routing, the Origin check and the
technician's token check, all answered during the WebSocket opening handshake
(`process_request`).

The Origin check: a browser tells the relay which web page opens a WebSocket (`Origin`);
without a check, any page its visitors open could register sessions through their
browsers and fill the relay. An upgrade on /v1/host or /v1/viewer that carries an Origin
is refused (403) unless that origin is on the allow-list: the relay's own origin and the
operator's `--allow-origin`s. No Origin header is what programs send (the host agent and
the Python viewer), and it passes. `Origin: null` (sandboxed frames, files, redirects)
never passes.

The relay's own origin comes from its configuration, never from the request: the origin
of `--public-url` when given, else, when the relay ends TLS itself on a named address,
https://HOST:PORT of `--listen` (http:// without TLS). The Host header is not used: it is
whatever the client puts there, and a page on a name that resolves to the relay (DNS
rebinding, or a wildcard certificate shared with other sites) would pass as the relay's
own. Behind a proxy, or listening on a wildcard address, the relay cannot know its public
name: pages need `--public-url` (or `--allow-origin`) there.

The browser viewer's page and sign-in are relay/web.py's; a viewer from that page signs in
with its cookie instead of a token (relay/signin.py, which checks on its own that the
request comes from the page of the host it asked).
"""

from __future__ import annotations

import http
import ipaddress
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from websockets.http11 import Request, Response

from relay.bearer import bearer_token
from relay.connection import Connection
from relay.core import RelayCore
from relay.database import DatabaseUnavailable
from relay.farewell import DATABASE_UNAVAILABLE_TEXT
from relay.limits import RateLimiter
from relay.web import WebFront

HOST_PATH = "/v1/host"
VIEWER_PATH = "/v1/viewer"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_LOGGED_ORIGIN_CHARS = 100
ORIGIN_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
DEFAULT_PORTS = {"http": 80, "https": 443}
WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def origin_of(url: str, *, strict: bool = False) -> str:
    """The origin of `url` as browsers write it: scheme://host[:port] in lower case, the
    default port left out (ws/wss give the origin of the page served beside them,
    http/https). `strict`: `url` must be an origin itself (an Origin header or an
    `--allow-origin`), nothing more. Raises ValueError."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if strict and scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) origin: {url!r}")
    if scheme not in ORIGIN_SCHEMES or not parts.hostname:
        raise ValueError(f"no origin in {url!r}")
    if strict and (parts.path not in ("", "/") or parts.query or parts.fragment):
        raise ValueError(f"an origin has no path: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"an origin has no user name: {url!r}")
    scheme = ORIGIN_SCHEMES[scheme]
    port = parts.port  # ValueError when out of range
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def own_origin(
    *, public_url: str | None, host: str, port: int, tls: bool, behind_proxy: bool
) -> str | None:
    """The relay's own origin from its configuration (module docstring), or None."""
    if public_url:
        return origin_of(public_url)
    if behind_proxy or host in WILDCARD_HOSTS:
        return None
    name = f"[{host}]" if ":" in host else host
    return origin_of(f"{'https' if tls else 'http'}://{name}:{port}")


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
        self._web = WebFront(core)
        self._allowed_origins = frozenset(
            origin_of(o, strict=True) for o in core.config.allow_origins
        )

    def set_own_origin(self, port: int) -> None:
        """Once the relay listens (its port may have been chosen by the system)."""
        config = self._core.config
        own = own_origin(
            public_url=config.public_url,
            host=config.host,
            port=port,
            tls=config.ssl_context is not None,
            behind_proxy=config.behind_proxy,
        )
        if own is not None:
            self._allowed_origins |= {own}
        self._core.log.event("origins_allowed", origins=" ".join(sorted(self._allowed_origins)))

    @property
    def allowed_origins(self) -> frozenset[str]:
        return self._allowed_origins

    def _origin_allowed(self, values: Iterable[str]) -> bool:
        """No Origin (a program, not a browser), or exactly one that is allowed."""
        values = list(values)
        if not values:
            return True
        if len(values) > 1:
            return False
        try:
            return origin_of(values[0], strict=True) in self._allowed_origins
        except ValueError:
            return False  # "null", or not an origin at all

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

    def _refuse(
        self,
        connection: Connection,
        status: http.HTTPStatus,
        text: str,
        event: str = "http_refused",
        **fields: object,
    ) -> Response:
        core = self._core
        core.metrics.connections_refused_http[str(status.value)] += 1
        core.log.event(event, status=status.value, ip=connection.ip, **fields)
        return connection.respond(status, text)

    def refuse_waited_too_long(self, connection: Connection) -> Response:
        """A stranger found its address's line full, or waited in it past its deadline."""
        return self._refuse(
            connection,
            http.HTTPStatus.SERVICE_UNAVAILABLE,
            "too many connections from this address; try again\n",
        )

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
        if (page := await self._web.process_request(request, path, connection.ip)) is not None:
            return page
        if path not in (HOST_PATH, VIEWER_PATH):
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        origins = request.headers.get_all("Origin")
        if not self._origin_allowed(origins):
            core.metrics.origins_refused += 1
            return self._refuse(
                connection,
                http.HTTPStatus.FORBIDDEN,
                "web pages from this origin may not connect to this relay\n",
                event="origin_refused",
                origin=" ".join(origins)[:MAX_LOGGED_ORIGIN_CHARS],
            )
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
        else:
            technician = await self._web.technician_for(request)
        if technician is None:
            self._auth_failures.allow(ip, core.now())
            response = self._refuse(
                connection, http.HTTPStatus.UNAUTHORIZED, "a valid technician token is needed\n"
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="fernwartung"'
            return response
        connection.technician = technician
        return None
