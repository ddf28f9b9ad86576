"""`fernwartung relay`: settings from the command line, then serve until SIGTERM/SIGINT.

Startup contract (tests and the demo parse it): with TLS a line `FINGERPRINT <64 hex>`,
then `LISTENING ws[s]://HOST:PORT` with the real port, both on stdout and flushed.

The ledger is the SQLite file in the data dir, or PostgreSQL with `--database URL` (or
env FERNWARTUNG_DATABASE); either way its migrations are applied first. A relay on
PostgreSQL registers itself (`--relay-id`, kept in the data dir when not given;
`--public-url`, the LISTENING URL when not given) and beats a heartbeat
(relay/database/upkeep.py, run by the relay itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from protocol.billing import Tariff
from relay import tls
from relay.core import client_url
from relay.database import Database, DatabaseError, configured_database
from relay.events import EventLog
from relay.http import origin_of
from relay.ledger import Ledger
from relay.limits import Limits, RateLimit
from relay.server import Relay, RelayConfig
from relay.tariff import with_overrides

EXIT_OK = 0
EXIT_USAGE = 2


class UsageError(Exception):
    """A command-line setting that cannot work, in words for the operator."""


@dataclass(frozen=True, slots=True)
class ListenAddress:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> ListenAddress:
        host, sep, port = text.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise UsageError("--listen must be HOST:PORT, e.g. 127.0.0.1:8765")
        return cls(host, int(port))

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def url(self, scheme: str, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{port}"


def limits_from(args: argparse.Namespace) -> Limits:
    """Limits with the defaults replaced by whatever flags were given."""
    base = Limits()
    overrides: dict[str, object] = {}
    for name in (
        "max_message_bytes",
        "max_first_message_bytes",
        "max_sessions",
        "max_connections",
        "max_tls_handshakes",
        "max_tls_handshakes_per_ip",
        "max_unadmitted_per_ip",
        "max_waiting_per_ip",
        "max_waiting_connections",
        "waiting_timeout_seconds",
        "code_ttl_seconds",
        "handshake_timeout_seconds",
        "idle_timeout_seconds",
        "send_stall_timeout_seconds",
        "ping_interval_seconds",
        "revocation_sweep_seconds",
        "resume_grace_seconds",
    ):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    for name in ("register_per_ip", "join_per_ip", "join_per_token", "resume_per_ip"):
        per_minute = getattr(args, f"{name}_per_minute", None)
        if per_minute is not None:
            burst = getattr(base, name).burst
            overrides[name] = RateLimit(per_minute, burst)
    if "ping_interval_seconds" in overrides:
        overrides["ping_timeout_seconds"] = overrides["ping_interval_seconds"]
    return Limits(**{**{f: getattr(base, f) for f in Limits.__dataclass_fields__}, **overrides})


def tariff_from(args: argparse.Namespace, database: Database) -> Tariff:
    """The database's tariff with the flags put in place; saved when flags changed it."""
    saved = database.tariff()
    tariff = with_overrides(
        saved,
        rate=args.rate,
        vat=args.vat,
        rounding=args.rounding,
        minimum_charge=args.minimum_charge,
    )
    if tariff != saved:
        database.save_tariff(tariff)
    return tariff


def origins_from(args: argparse.Namespace) -> tuple[str | None, tuple[str, ...]]:
    """`--public-url` and the `--allow-origin`s, checked (relay/http.py says how they are
    used)."""
    public_url = getattr(args, "public_url", None)
    allowed = tuple(getattr(args, "allow_origin", None) or ())
    try:
        if public_url:
            origin_of(public_url)
        for origin in allowed:
            origin_of(origin, strict=True)
    except ValueError as error:
        raise UsageError(
            f"{error}; --public-url is the URL browsers use (https://HOST[:PORT]), "
            "--allow-origin an origin such as https://support.example"
        ) from None
    return public_url, allowed


def _tls_setup(args: argparse.Namespace, listen: ListenAddress, data_dir: Path):  # noqa: ANN202
    if args.tls_key and not args.tls_cert:
        raise UsageError("--tls-key needs --tls-cert")
    if args.tls_cert:
        if not args.tls_key:
            raise UsageError("--tls-cert needs --tls-key")
        cert, key = Path(args.tls_cert), Path(args.tls_key)
    elif args.no_tls:
        if not listen.is_loopback and not args.behind_proxy:
            raise UsageError(
                "--no-tls is only allowed on a loopback address, or with --behind-proxy when "
                "a reverse proxy in front terminates TLS"
            )
        return None, None
    else:  # --self-signed, also the default: never plain text unless asked for
        cert, key = tls.ensure_self_signed(data_dir)
    return tls.server_context(cert, key), tls.certificate_fingerprint(cert)


def public_url_from(args: argparse.Namespace) -> str | None:
    """`--public-url` as clients are sent to it (ws[s]://HOST[:PORT]), checked."""
    given = getattr(args, "public_url", None)
    if not given:
        return None
    url = client_url(given)
    if url is None:
        raise UsageError("--public-url must look like wss://HOST[:PORT], with no path")
    return url


def run(args: argparse.Namespace) -> int:
    ledger: Ledger | None = None
    try:
        listen = ListenAddress.parse(args.listen)
        data_dir = Path(args.data_dir)
        ssl_context, fingerprint = _tls_setup(args, listen, data_dir)
        proxy_protocol = bool(getattr(args, "proxy_protocol", False))
        if proxy_protocol and ssl_context is None:
            raise UsageError(
                "--proxy-protocol is for a load balancer that passes TLS through; behind a "
                "proxy that ends TLS, --no-tls --behind-proxy reads its X-Forwarded-For"
            )
        limits = limits_from(args)
        public_url = public_url_from(args)
        _, allow_origins = origins_from(args)  # checked for browsers (relay/http.py) too
        database = configured_database(getattr(args, "database", None))
        if database and public_url is None and listen.host in ("0.0.0.0", "::", ""):
            raise UsageError(
                "with --database on a wildcard address, give --public-url: where clients "
                "reach this relay when another relay sends them here"
            )
        ledger = Ledger.open(database, data_dir)
        tariff = tariff_from(args, ledger)
    except (UsageError, tls.TlsError, ValueError, DatabaseError) as error:
        print(f"fernwartung relay: {error}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if ledger is not None:
            ledger.close()  # the relay opens its ledger itself, on its own thread
    config = RelayConfig(
        data_dir=data_dir,
        host=listen.host,
        port=listen.port,
        ssl_context=ssl_context,
        behind_proxy=args.behind_proxy,
        proxy_protocol=proxy_protocol,
        allow_origins=allow_origins,
        limits=limits,
        tariff=tariff,
        database=database,
        relay_id=getattr(args, "relay_id", None),
        public_url=public_url,
        fingerprint=fingerprint,
    )
    log = EventLog(json_lines=args.log_json)
    try:
        asyncio.run(_serve(config, log, listen, fingerprint))
    except OSError as error:
        print(
            f"fernwartung relay: cannot listen on {args.listen} ({error.strerror})", file=sys.stderr
        )
        return EXIT_USAGE
    except DatabaseError as error:
        print(f"fernwartung relay: {error}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


async def _serve(
    config: RelayConfig, log: EventLog, listen: ListenAddress, fingerprint: str | None
) -> None:
    relay = Relay(config, log=log)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    try:
        await relay.start()
        scheme = "wss" if config.ssl_context is not None else "ws"
        url = listen.url(scheme, relay.port)
        if fingerprint is not None:
            print(f"FINGERPRINT {fingerprint}", flush=True)
        print(f"LISTENING {url}", flush=True)
        await stop.wait()
    finally:
        await relay.stop()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signal_number)
