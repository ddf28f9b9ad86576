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
from viewer.texts import ViewerTexts, detect_language

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
    texts = ViewerTexts(getattr(args, "lang", None) or detect_language())
    try:
        settings = settings_from_args(args, environment, interactive=sys.stdin.isatty())
        ui = _choose_ui(args, environment)
        if ui == "tk" and (args.snapshot or args.input_script):
            raise UsageError("--snapshot and --input-script need --ui headless")
        script = load_input_script(Path(args.input_script)) if args.input_script else []
        record_directory = recording_directory(args, texts)
    except (UsageError, InvalidCode, InputScriptError) as error:
        print(f"fernwartung viewer: {error}", file=sys.stderr)
        return ExitStatus.USAGE
    if ui == "tk":
        from viewer.ui_tk import run_tk

        outcome = run_tk(
            settings,
            stats_path=Path(args.stats) if args.stats else None,
            record_directory=record_directory,
            texts=texts,
            # A run bounded by --seconds is automation: its window closes by itself.
            close_when_over=args.seconds is not None,
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
    return report(outcome, texts)


def recording_directory(args: argparse.Namespace, texts: ViewerTexts | None = None) -> Path | None:
    """Where the session is recorded: --record DIR, else ./recordings; None only with
    --no-record, which is said aloud (and the status bar's recording dot stays grey)."""
    if getattr(args, "no_record", False):
        if args.record:
            raise UsageError("--record and --no-record contradict each other")
        said = (texts or ViewerTexts("en"))("said_no_record")
        print(f"fernwartung viewer: {said}", file=sys.stderr, flush=True)
        return None
    return Path(args.record) if args.record else DEFAULT_RECORD_DIRECTORY


def report(outcome: Outcome, texts: ViewerTexts | None = None) -> int:
    said = outcome.describe(texts) if texts is not None else outcome.message
    print(f"fernwartung viewer: {said}", file=sys.stderr)
    return int(outcome.status)
