"""`fernwartung host`: pick language, screen, injector and UI, then run one session."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from host_agent.agent import AgentSettings, HostAgent
from host_agent.capture import CaptureError, ScreenSource
from host_agent.evidence import terms_hash
from host_agent.inject import Bounds, InputBackend, NoInjectionBackend
from host_agent.texts import Texts, detect_language

EXIT_USAGE = 2
MAX_TERMS_BYTES = 64 * 1024


def load_terms(path: str | None) -> str:
    """The operator's terms (a text file), or the sample shipped with the agent."""
    if path is None:
        return resources.files("host_agent").joinpath("terms_sample.txt").read_text("utf-8")
    data = Path(path).read_bytes()[:MAX_TERMS_BYTES]
    return data.decode("utf-8", "replace")


def source_factory(screen: str, monitor: int) -> Callable[[], ScreenSource]:
    if screen == "synthetic":
        from host_agent.synthetic import SyntheticSource

        return lambda: SyntheticSource(1)
    from host_agent.capture import MssSource

    return lambda: MssSource(monitor)


def backend_factory(screen: str) -> Callable[[Bounds], InputBackend]:
    if screen == "synthetic":
        return NoInjectionBackend
    from host_agent.inject import PynputBackend

    return PynputBackend


def run(args: argparse.Namespace) -> int:
    texts = Texts(args.lang or detect_language())
    try:
        terms = load_terms(getattr(args, "terms", None))
    except OSError as error:
        print(f"fernwartung host: cannot read the terms file ({error.strerror})", file=sys.stderr)
        return EXIT_USAGE
    record = getattr(args, "record", None)
    settings = AgentSettings(
        relay_url=args.relay,
        fingerprint=args.fingerprint,
        monitor=args.monitor,
        record_directory=Path(record) if record else None,
        terms_hash=terms_hash(terms),
    )
    if args.screen == "real" and not os.environ.get("DISPLAY"):
        print("fernwartung host: no display (DISPLAY is not set); try --screen synthetic",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    make_source = source_factory(args.screen, args.monitor)
    make_backend = backend_factory(args.screen)
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
