"""`fernwartung host`: pick language, backend (screen and injector) and UI, then run one
session."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from importlib import resources
from pathlib import Path

from host_agent import backends
from host_agent.agent import AgentSettings, HostAgent
from host_agent.capture import CaptureError
from host_agent.evidence import default_recording_directory, terms_hash
from host_agent.texts import Texts, detect_language

EXIT_USAGE = 2
MAX_TERMS_BYTES = 64 * 1024


def load_terms(path: str | None) -> str:
    """The operator's terms (a text file), or the sample shipped with the agent."""
    if path is None:
        return resources.files("host_agent").joinpath("terms_sample.txt").read_text("utf-8")
    data = Path(path).read_bytes()[:MAX_TERMS_BYTES]
    return data.decode("utf-8", "replace")


def run(args: argparse.Namespace) -> int:
    texts = Texts(args.lang or detect_language())
    try:
        terms = load_terms(getattr(args, "terms", None))
    except OSError as error:
        print(f"fernwartung host: cannot read the terms file ({error.strerror})", file=sys.stderr)
        return EXIT_USAGE
    record = getattr(args, "record", None)
    declined = bool(getattr(args, "no_record", False))
    if declined and record:
        print("fernwartung host: --record and --no-record contradict each other", file=sys.stderr)
        return EXIT_USAGE
    settings = AgentSettings(
        relay_url=args.relay,
        fingerprint=args.fingerprint,
        monitor=args.monitor,
        record_directory=None if declined else Path(record or default_recording_directory()),
        recording_declined=declined,
        terms_hash=terms_hash(terms),
    )
    try:
        backend = backends.choose(args.screen, getattr(args, "backend", "auto"), args.monitor)
    except backends.Unsupported as error:
        print(backends.unsupported_message(error), file=sys.stderr)
        return backends.EXIT_UNSUPPORTED
    make_source, make_backend = backend.make_source, backend.make_input
    interface = args.ui or ("tk" if os.environ.get("DISPLAY") else "terminal")
    try:
        if interface == "tk":
            from host_agent.ui_tk import run_tk

            return run_tk(settings, texts, terms, make_source, make_backend)
        return asyncio.run(_run_terminal(settings, texts, terms, make_source, make_backend))
    except CaptureError as error:
        print(f"fernwartung host: {error}", file=sys.stderr)
        return 1


async def _run_terminal(settings, texts, terms, make_source, make_backend) -> int:  # type: ignore[no-untyped-def]
    from host_agent.ui_terminal import TerminalUi

    terminal = TerminalUi(texts, terms)
    agent = HostAgent(settings, texts, terminal.notify, make_source, make_backend)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, agent.kill)
    return await terminal.run(agent)
