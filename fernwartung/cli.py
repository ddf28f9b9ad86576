"""The `fernwartung` command: argument parsing and wiring only.

Each subcommand names the function that runs it as "module:function"; the module is
imported only when that subcommand runs, so `fernwartung relay` never loads Tk or pynput.
A subcommand whose package has not been built yet says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

EXIT_USAGE = 2


# subcommand -> "module:function" taking the parsed arguments and returning an exit status
HANDLERS: dict[str, str] = {
    "relay": "relay.main:run",
    "technician": "relay.technicians_cli:run",
    "host": "host_agent.main:run",
    "viewer": "viewer.main:run",
    "recording": "fernwartung.recording_cli:run",
    "invoice": "relay.invoice_cli:run",
    "demo": "fernwartung.demo:run",
}
# actions of a subcommand that have a handler of their own
ACTION_HANDLERS: dict[str, str] = {"relay migrate": "relay.database.migrate_cli:run"}


DATABASE_HELP = (
    "PostgreSQL shared by several relays, postgresql://USER@HOST/DB (or env "
    "FERNWARTUNG_DATABASE; keep the password in ~/.pgpass); default: SQLite in --data-dir"
)


def _add_database(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database", metavar="URL", help=DATABASE_HELP)


# Flags of the relay's limits: (flag, type, what it limits). Their defaults are read from
# relay/limits.py when the help is shown.
LIMIT_FLAGS: tuple[tuple[str, type, str], ...] = (
    ("--max-message-bytes", int, "largest message a side may send"),
    ("--max-first-message-bytes", int, "largest first message before a side is admitted"),
    ("--max-sessions", int, "sessions at once"),
    ("--max-connections", int, "connections at once"),
    ("--max-tls-handshakes", int, "TLS handshakes in progress at once"),
    ("--max-tls-handshakes-per-ip", int, "TLS handshakes in progress per address"),
    ("--max-unadmitted-per-ip", int, "connections per address not yet admitted"),
    ("--max-waiting-per-ip", int, "connections per address waiting unread over a cap"),
    ("--max-waiting-connections", int, "connections waiting unread over a cap, in all"),
    ("--waiting-timeout-seconds", float, "how long a waiting connection may wait"),
    ("--code-ttl-seconds", float, "how long a code is valid"),
    ("--handshake-timeout-seconds", float, "time for a connection's first message"),
    ("--idle-timeout-seconds", float, "a connection silent this long is closed"),
    ("--send-stall-timeout-seconds", float, "a side that reads nothing this long is dropped"),
    ("--ping-interval-seconds", float, "keep-alive ping interval"),
    ("--revocation-sweep-seconds", float, "how often revoked technicians are looked for"),
    ("--resume-grace-seconds", float, "how long a dropped side may come back"),
    ("--register-per-ip-per-minute", float, "new sessions per address and minute"),
    ("--join-per-ip-per-minute", float, "joins per address and minute"),
    ("--join-per-token-per-minute", float, "joins per technician and minute"),
    ("--resume-per-ip-per-minute", float, "resume attempts per address and minute"),
)
DATA_DIR_HELP = "the relay's data folder: ledger, technicians, tariff, certificate"


def _limit_default(flag: str) -> str:
    """The default of a limit flag, as relay/limits.py sets it."""
    from relay.limits import Limits

    name = flag.removeprefix("--").replace("-", "_")
    limits = Limits()
    if name.endswith("_per_minute"):
        value = getattr(limits, name.removesuffix("_per_minute"), None)
        value = getattr(value, "per_minute", value)
    else:
        value = getattr(limits, name, None)
    return "see relay/limits.py" if value is None else f"{value:g}"


def _add_relay(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("relay", help="run the relay server (operator)")
    actions = p.add_subparsers(dest="relay_action", metavar="ACTION")
    migrate = actions.add_parser("migrate", help="apply the database's schema migrations")
    _add_database(migrate)
    migrate.add_argument("--data-dir", metavar="DIR", help="the SQLite ledger's data dir")
    _add_database(p)
    p.add_argument(
        "--relay-id", metavar="ID",
        help="this relay's name among several (default: one drawn and kept in the data folder)",
    )  # fmt: skip
    p.add_argument(
        "--public-url", metavar="URL",
        help="where clients and browsers reach this relay, e.g. wss://support.example:8765: "
        "the other relays send clients there, and its https origin may open sessions from "
        "web pages (default: the address it listens on, unless a wildcard address or "
        "--behind-proxy)",
    )  # fmt: skip
    p.add_argument(
        "--listen", default="127.0.0.1:8765", metavar="HOST:PORT",
        help="address and port to listen on (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--data-dir", default="fernwartung-data", metavar="DIR",
        help=DATA_DIR_HELP + " (default: ./%(default)s)",
    )  # fmt: skip
    tls = p.add_mutually_exclusive_group()
    tls.add_argument("--tls-cert", metavar="FILE", help="certificate chain (PEM); needs --tls-key")
    tls.add_argument(
        "--self-signed", action="store_true",
        help="a self-signed certificate kept in the data folder (the default without "
        "--tls-cert or --no-tls); its fingerprint is printed for --fingerprint",
    )  # fmt: skip
    tls.add_argument(
        "--no-tls", action="store_true",
        help="plain WebSocket: only on a loopback address, or with --behind-proxy",
    )  # fmt: skip
    p.add_argument("--tls-key", metavar="FILE", help="private key (PEM) of --tls-cert")
    p.add_argument(
        "--behind-proxy", action="store_true",
        help="TLS ends at a reverse proxy in front (allows --no-tls on any address)",
    )  # fmt: skip
    p.add_argument(
        "--proxy-protocol", action="store_true",
        help="a TCP load balancer in front passes TLS through and each client's address in "
        "a PROXY protocol header (v1 or v2); only the balancer may reach the relay's port",
    )  # fmt: skip
    p.add_argument("--log-json", action="store_true", help="log JSON lines instead of text")
    tariff = p.add_argument_group("tariff (kept in the ledger once set)")
    p.add_argument(
        "--allow-origin", action="append", metavar="ORIGIN",
        help="another web origin whose pages may open sessions (repeatable; default: none)",
    )  # fmt: skip
    tariff.add_argument("--rate", metavar="EUR", help="price per minute (default 1.40)")
    tariff.add_argument("--vat", metavar="PERCENT", help="VAT percent (default 19)")
    tariff.add_argument(
        "--rounding",
        choices=("started-minute", "exact"),
        help="bill per started minute (default) or exact seconds",
    )
    tariff.add_argument(
        "--minimum-charge", metavar="EUR", help="net minimum per session (default 0)"
    )
    limits = p.add_argument_group("limits (defaults in relay/limits.py)")
    for flag, kind, what in LIMIT_FLAGS:
        limits.add_argument(
            flag, type=kind, metavar="N", help=f"{what} (default: {_limit_default(flag)})"
        )


def _add_technician(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("technician", help="add, list or revoke technicians (operator)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a technician; prints the token once")
    add.add_argument("name", help="the technician's name, shown to customers")
    add.add_argument(
        "--totp", action="store_true",
        help="also a second factor for the browser viewer's sign-in (RFC 6238): shows its "
        "secret as text and as a QR code for an authenticator app",
    )  # fmt: skip
    actions.add_parser("list", help="list technicians")
    revoke = actions.add_parser(
        "revoke", help="refuse a technician's token and browser sign-ins from now on"
    )
    revoke.add_argument("name", help="the technician's name")
    totp = actions.add_parser(
        "totp", help="a new second factor for a technician's browser sign-in (shown once)"
    )
    totp.add_argument("name", help="the technician's name")
    for action in (add, actions.choices["list"], revoke, totp):
        action.add_argument(
            "--data-dir", default="fernwartung-data", metavar="DIR",
            help=DATA_DIR_HELP + "; it must exist, as the relay made it (default: ./%(default)s)",
        )  # fmt: skip
        _add_database(action)


def _add_host(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("host", help="share this screen with a technician (customer)")
    p.add_argument("--relay", required=True, metavar="URL", help="the relay, wss://HOST:PORT")
    p.add_argument(
        "--fingerprint", metavar="SHA256", help="pin the relay's certificate (hex SHA-256)"
    )
    p.add_argument(
        "--ui", choices=("tk", "terminal"),
        help="window or lines in a terminal (default: tk when there is a display)",
    )  # fmt: skip
    p.add_argument(
        "--screen", choices=("real", "synthetic"), default="real",
        help="share the real screen, or a test pattern for demos (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--backend", choices=("auto", "x11", "wayland"), default="auto",
        help="how the real screen is reached: the Wayland portal in a Wayland session, "
        "else X11 (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--monitor", type=int, default=1, metavar="N",
        help="the monitor shared first (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--record", metavar="DIR",
        help="where your own recording of the session goes "
        "(default: ~/.local/share/fernwartung/recordings, or $XDG_DATA_HOME/fernwartung/"
        "recordings)",
    )  # fmt: skip
    p.add_argument(
        "--no-record", action="store_true",
        help="keep no recording of your own (the technician's side still records)",
    )  # fmt: skip
    p.add_argument(
        "--lang", choices=("de", "en"), help="language (default: from LANG / the locale)"
    )
    p.add_argument(
        "--terms", metavar="FILE",
        help="the operator's terms, shown before the code (default: the sample terms)",
    )  # fmt: skip


def _add_viewer(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("viewer", help="connect to a customer with their code (technician)")
    p.add_argument("--relay", required=True, metavar="URL", help="the relay, wss://HOST:PORT")
    p.add_argument("--code", required=True, help="the customer's code, as read out")
    p.add_argument("--token", help="technician token (default: env FERNWARTUNG_TOKEN, or asked)")
    p.add_argument(
        "--ui", choices=("tk", "headless"),
        help="window, or none for automation (default: tk when there is a display)",
    )  # fmt: skip
    p.add_argument(
        "--fingerprint", metavar="SHA256", help="pin the relay's certificate (hex SHA-256)"
    )
    p.add_argument("--record", metavar="DIR", help="where to record (default: ./recordings)")
    p.add_argument("--no-record", action="store_true", help="do not record (said aloud)")
    p.add_argument("--customer", metavar="REF", help="the customer's reference, for the invoice")
    p.add_argument("--seconds", type=float, metavar="N", help="end the session after N seconds")
    p.add_argument("--stats", metavar="FILE.jsonl", help="one JSON line per frame update")
    p.add_argument("--snapshot", metavar="FILE.png", help="the last picture, at the end (headless)")
    p.add_argument(
        "--input-script", metavar="FILE.jsonl", help="inputs to send (headless; see the README)"
    )
    p.add_argument(
        "--lang", choices=("de", "en"), help="language (default: from LANG / the locale)"
    )


def _add_recording(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recording", help="verify, inspect, export or play a session recording")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="check the hash chain (and the relay's ledger)")
    verify.add_argument("file", help="the recording (.fwrec)")
    against = verify.add_mutually_exclusive_group()
    against.add_argument(
        "--ledger", metavar="DATA_DIR", help="also check against the relay's ledger there"
    )
    against.add_argument(
        "--database", metavar="URL",
        help="also check against the ledger in the relays' PostgreSQL (postgresql://...)",
    )  # fmt: skip
    info = actions.add_parser("info", help="session, technician, duration, frames, inputs")
    info.add_argument("file", help="the recording (.fwrec)")
    info.add_argument("--json", action="store_true", help="one JSON object")
    export = actions.add_parser("export", help="to an .mp4 or a folder of PNGs")
    export.add_argument("file", help="the recording (.fwrec)")
    export.add_argument("out", help="OUT.mp4, or a folder for PNGs")
    play = actions.add_parser("play", help="replay in a window")
    play.add_argument("file", help="the recording (.fwrec)")


def _add_invoice(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("invoice", help="bill a month's sessions from the ledger (operator)")
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP + " (or --database)")
    _add_database(p)
    p.add_argument(
        "--month", required=True, metavar="YYYY-MM",
        help="the month (UTC) whose sessions are billed, by the start of consent",
    )  # fmt: skip
    p.add_argument("--rate", metavar="EUR", help="rate per minute (default: the relay's tariff)")
    p.add_argument("--vat", metavar="PERCENT", help="VAT percent (default: the relay's tariff)")
    p.add_argument("--technician", metavar="NAME", help="only this technician's sessions")
    p.add_argument("--customer", metavar="REF", help="only this customer's sessions")
    p.add_argument(
        "--format", choices=("table", "csv", "json"), default="table",
        help="table (local times, zone named) or csv/json (UTC, ISO 8601) "
        "(default: %(default)s)",
    )  # fmt: skip


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="a whole session on this machine, nothing to set up")
    p.add_argument(
        "--seconds", type=float, default=5.0, metavar="N",
        help="how long the session runs (default: %(default)s)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="the summary as one JSON object")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fernwartung",
        description="Self-hosted remote support, end-to-end encrypted with AES-256-GCM.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_relay,
        _add_technician,
        _add_host,
        _add_viewer,
        _add_recording,
        _add_invoice,
        _add_demo,
    ):
        add(sub)
    return parser


def _load(target: str) -> Callable[[argparse.Namespace], int] | None:
    module_name, _, function_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            return None
        raise
    return getattr(module, function_name, None)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    target = HANDLERS[args.command]
    if args.command == "relay" and args.relay_action:
        target = ACTION_HANDLERS[f"relay {args.relay_action}"]
    handler = _load(target)
    if handler is None:
        print(f"fernwartung {args.command}: not yet available in this version", file=sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
