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


def _add_relay(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("relay", help="run the relay server (operator)")
    actions = p.add_subparsers(dest="relay_action", metavar="ACTION")
    migrate = actions.add_parser("migrate", help="apply the database's schema migrations")
    _add_database(migrate)
    migrate.add_argument("--data-dir", metavar="DIR", help="the SQLite ledger's data dir")
    p.add_argument("--listen", default="127.0.0.1:8765", metavar="HOST:PORT")
    p.add_argument("--data-dir", default="fernwartung-data", metavar="DIR")
    _add_database(p)
    p.add_argument("--relay-id", metavar="ID", help="this relay's name among several")
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="where clients and browsers reach this relay, e.g. wss://support.example:8765; "
        "its https origin may open sessions from web pages (default: that of --listen, "
        "unless a wildcard address or --behind-proxy)",
    )
    tls = p.add_mutually_exclusive_group()
    tls.add_argument("--tls-cert", metavar="FILE")
    tls.add_argument("--self-signed", action="store_true")
    tls.add_argument("--no-tls", action="store_true")
    p.add_argument("--tls-key", metavar="FILE")
    p.add_argument(
        "--behind-proxy", action="store_true", help="TLS ends at a reverse proxy in front"
    )
    p.add_argument("--log-json", action="store_true", help="log JSON lines")
    p.add_argument(
        "--allow-origin",
        action="append",
        metavar="ORIGIN",
        help="another web origin whose pages may open sessions (repeatable)",
    )
    tariff = p.add_argument_group("tariff (kept in DATA_DIR/tariff.json once set)")
    tariff.add_argument("--rate", metavar="EUR", help="price per minute (default 1.40)")
    tariff.add_argument("--vat", metavar="PERCENT", help="VAT percent (default 19)")
    tariff.add_argument(
        "--rounding",
        choices=("started-minute", "exact"),
        help="bill per started minute (default) or exact seconds",
    )
    tariff.add_argument("--minimum-charge", metavar="EUR", help="net minimum per session")
    limits = p.add_argument_group("limits (defaults in relay/limits.py)")
    for flag, kind in (
        ("--max-message-bytes", int),
        ("--max-first-message-bytes", int),
        ("--max-sessions", int),
        ("--max-connections", int),
        ("--max-tls-handshakes", int),
        ("--max-tls-handshakes-per-ip", int),
        ("--max-unadmitted-per-ip", int),
        ("--max-waiting-per-ip", int),
        ("--max-waiting-connections", int),
        ("--waiting-timeout-seconds", float),
        ("--code-ttl-seconds", float),
        ("--handshake-timeout-seconds", float),
        ("--idle-timeout-seconds", float),
        ("--send-stall-timeout-seconds", float),
        ("--ping-interval-seconds", float),
        ("--revocation-sweep-seconds", float),
        ("--resume-grace-seconds", float),
        ("--register-per-ip-per-minute", float),
        ("--join-per-ip-per-minute", float),
        ("--join-per-token-per-minute", float),
        ("--resume-per-ip-per-minute", float),
    ):
        limits.add_argument(flag, type=kind, metavar="N")


def _add_technician(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("technician", help="add, list or revoke technicians (operator)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a technician; prints the token once")
    add.add_argument("name")
    actions.add_parser("list", help="list technicians")
    revoke = actions.add_parser("revoke", help="refuse a technician's token from now on")
    revoke.add_argument("name")
    for action in (add, actions.choices["list"], revoke):
        action.add_argument("--data-dir", default="fernwartung-data", metavar="DIR")
        _add_database(action)


def _add_host(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("host", help="share this screen with a technician (customer)")
    p.add_argument("--relay", required=True, metavar="URL")
    p.add_argument("--fingerprint", metavar="SHA256")
    p.add_argument("--ui", choices=("tk", "terminal"))
    p.add_argument("--screen", choices=("real", "synthetic"), default="real")
    p.add_argument(
        "--backend",
        choices=("auto", "x11", "wayland"),
        default="auto",
        help="how the real screen is reached (auto: Wayland portal in a Wayland session, else X11)",
    )
    p.add_argument("--monitor", type=int, default=1, metavar="N")
    p.add_argument("--record", metavar="DIR")
    p.add_argument("--lang", choices=("de", "en"))
    p.add_argument("--terms", metavar="FILE", help="the operator's terms, shown before the code")


def _add_viewer(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("viewer", help="connect to a customer with their code (technician)")
    p.add_argument("--relay", required=True, metavar="URL")
    p.add_argument("--code", required=True)
    p.add_argument("--token", help="technician token (or env FERNWARTUNG_TOKEN)")
    p.add_argument("--ui", choices=("tk", "headless"))
    p.add_argument("--fingerprint", metavar="SHA256")
    p.add_argument("--record", metavar="DIR", help="where to record (default ./recordings)")
    p.add_argument("--no-record", action="store_true", help="do not record (said aloud)")
    p.add_argument("--customer", metavar="REF")
    p.add_argument("--seconds", type=float, metavar="N")
    p.add_argument("--stats", metavar="FILE.jsonl")
    p.add_argument("--snapshot", metavar="FILE.png")
    p.add_argument("--input-script", metavar="FILE.jsonl")


def _add_recording(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recording", help="verify, inspect, export or play a session recording")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="check the hash chain (and the relay's ledger)")
    verify.add_argument("file")
    verify.add_argument("--ledger", metavar="DATA_DIR")
    info = actions.add_parser("info", help="session, technician, duration, frames, inputs")
    info.add_argument("file")
    info.add_argument("--json", action="store_true")
    export = actions.add_parser("export", help="to an .mp4 or a folder of PNGs")
    export.add_argument("file")
    export.add_argument("out")
    play = actions.add_parser("play", help="replay in a window")
    play.add_argument("file")


def _add_invoice(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("invoice", help="bill a month's sessions from the ledger (operator)")
    p.add_argument("--data-dir", metavar="DIR")
    _add_database(p)
    p.add_argument("--month", required=True, metavar="YYYY-MM")
    p.add_argument("--rate", metavar="EUR")
    p.add_argument("--vat", metavar="PERCENT")
    p.add_argument("--technician", metavar="NAME")
    p.add_argument("--customer", metavar="REF")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="a whole session on this machine, nothing to set up")
    p.add_argument("--seconds", type=float, default=5.0, metavar="N")
    p.add_argument("--json", action="store_true")


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
