"""`fernwartung viewer`: turn the parsed command line into a viewer run and an exit status."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from endpoint.relay_link import RelayAddress
from protocol.codes import parse_code
from protocol.errors import FernwartungError, InvalidCode
from protocol.fingerprints import normalise_fingerprint
from viewer.client import ClientSettings
from viewer.input_script import InputScriptError, load_input_script
from viewer.outcome import ExitStatus, Outcome

TOKEN_ENVIRONMENT_VARIABLE = "FERNWARTUNG_TOKEN"
DEFAULT_RECORD_DIRECTORY = Path("recordings")
MAX_TOKEN_CHARS = 512


class UsageError(FernwartungError):
    """The command line cannot be used as given; the message says what to change."""


def resolve_token(
    flag: str | None,
    environment: Mapping[str, str],
    *,
    interactive: bool,
    prompt: Callable[[str], str] = getpass.getpass,
) -> str:
    """The technician token: --token, else FERNWARTUNG_TOKEN, else asked without echo."""
    token = flag or environment.get(TOKEN_ENVIRONMENT_VARIABLE, "")
    if not token and interactive:
        try:
            token = prompt("Technician token (not shown): ")
        except EOFError:
            token = ""
    token = token.strip()
    if not token:
        raise UsageError(
            f"no technician token: pass --token, set {TOKEN_ENVIRONMENT_VARIABLE}, "
            "or run the viewer in a terminal to be asked"
        )
    if len(token) > MAX_TOKEN_CHARS or not token.isprintable() or " " in token:
        raise UsageError("the technician token is not well-formed")
    return token


def settings_from_args(
    args: argparse.Namespace, environment: Mapping[str, str], *, interactive: bool
) -> ClientSettings:
    """Check the command line; raises UsageError or InvalidCode with advice."""
    try:
        RelayAddress.parse(args.relay)
        fingerprint = normalise_fingerprint(args.fingerprint) if args.fingerprint else None
    except ValueError as error:
        raise UsageError(str(error)) from None
    if fingerprint is not None and not args.relay.startswith("wss://"):
        raise UsageError("a fingerprint can only be pinned on a wss:// relay URL")
    if args.seconds is not None and not args.seconds > 0:
        raise UsageError("--seconds must be a positive number")
    code = parse_code(args.code)
    token = resolve_token(args.token, environment, interactive=interactive)
    return ClientSettings(
        relay_url=args.relay,
        code=code,
        token=token,
        fingerprint=fingerprint,
        customer=args.customer or "",
        end_after_seconds=args.seconds,
    )


def _choose_ui(args: argparse.Namespace, environment: Mapping[str, str]) -> str:
    if args.ui is not None:
        return str(args.ui)
    return "tk" if environment.get("DISPLAY") or sys.platform in ("win32", "darwin") else "headless"


def run(args: argparse.Namespace) -> int:
    """Run the viewer; returns the contract's exit status."""
    environment = os.environ
    try:
        settings = settings_from_args(args, environment, interactive=sys.stdin.isatty())
        ui = _choose_ui(args, environment)
        if ui == "tk" and (args.snapshot or args.input_script):
            raise UsageError("--snapshot and --input-script need --ui headless")
        script = load_input_script(Path(args.input_script)) if args.input_script else []
        record_directory = recording_directory(args)
    except (UsageError, InvalidCode, InputScriptError) as error:
        print(f"fernwartung viewer: {error}", file=sys.stderr)
        return ExitStatus.USAGE
    if ui == "tk":
        from viewer.ui_tk import run_tk

        outcome = run_tk(
            settings,
            stats_path=Path(args.stats) if args.stats else None,
            record_directory=record_directory,
        )
    else:
        from viewer.headless import HeadlessOptions, HeadlessViewer

        options = HeadlessOptions(
            stats_path=Path(args.stats) if args.stats else None,
            snapshot_path=Path(args.snapshot) if args.snapshot else None,
            script=tuple(script),
            record_directory=record_directory,
        )
        outcome = asyncio.run(HeadlessViewer(settings, options).run())
    return report(outcome)


def recording_directory(args: argparse.Namespace) -> Path | None:
    """Where the session is recorded: --record DIR, else ./recordings; None only with
    --no-record, which is said aloud (and the status bar's recording dot stays grey)."""
    if getattr(args, "no_record", False):
        if args.record:
            raise UsageError("--record and --no-record contradict each other")
        print(
            "fernwartung viewer: NOTICE: --no-record: this session is NOT recorded; "
            "there will be no evidence of what was seen and done",
            file=sys.stderr,
            flush=True,
        )
        return None
    return Path(args.record) if args.record else DEFAULT_RECORD_DIRECTORY


def report(outcome: Outcome) -> int:
    print(f"fernwartung viewer: {outcome.message}", file=sys.stderr)
    return int(outcome.status)
