"""One load-generator process for `benchmarks/multi_relay.py`: the sessions of
`benchmarks/load_clients.py` (synthetic hosts and viewers speaking the real protocol,
frame updates acked under flow control), spread over several relays, with checkpoints.

Session i registers its host at relay i mod n and lets its viewer enter at relay
(i + i div n) mod n: with two relays, half of the viewers enter at the relay that does not
hold their session and are redirected (endpoint/relays.py), as behind DNS round robin.
Both sides report a checkpoint to the relay every `--checkpoint-seconds`, which the relay
writes to its ledger: the ledger writes the benchmark counts.

Driven over stdin/stdout like load_clients.py (READY, STREAM, RESULT, STOP); RESULT adds
"redirected" (viewers sent to another relay) and "checkpoints_sent".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_clients import (  # noqa: E402
    SCREEN,
    SETUP_CONCURRENCY,
    SETUP_TIMEOUT_SECONDS,
    Plan,
    SessionLoad,
    close_all,
    establish,
    read_line,
    receive,
    receive_message,
    say,
    stream,
    summary,
    synthetic_tiles,
)

from endpoint.relay_link import open_link  # noqa: E402
from endpoint.relays import RelayPlace, RelayRoute, ask_relay  # noqa: E402
from protocol import control, messages  # noqa: E402
from protocol.codes import new_code  # noqa: E402
from protocol.errors import FernwartungError  # noqa: E402
from protocol.handshake import Role  # noqa: E402
from protocol.session import PeerSession  # noqa: E402


def parse_places(text: str) -> list[RelayPlace]:
    """URL#PIN,URL#PIN,... (an empty pin: the system's trust store)."""
    places = []
    for item in text.split(","):
        url, _, pin = item.partition("#")
        places.append(RelayPlace(url, pin or None))
    return places


async def open_session(
    places: list[RelayPlace], token: str, index: int
) -> tuple[SessionLoad, bool]:
    """A consented session; whether its viewer was redirected."""
    count = len(places)
    at = places[index % count]
    host = await open_link(at.url, "/v1/host", fingerprint_pin=at.fingerprint)
    await host.send_control(control.Register(version=1))
    registered = await receive(host)
    assert isinstance(registered, control.Registered), registered
    code = new_code(registered.session)
    entry = places[(index + index // count) % count]
    route = RelayRoute(entry.url, entry.fingerprint)
    join = control.Join(session=code.session, version=1, customer=f"load{index}")
    viewer, joined = await ask_relay(route, "/v1/viewer", lambda: join, token=token)
    assert isinstance(joined, control.Joined), joined
    assert isinstance(await receive(host), control.PeerJoined)
    load = SessionLoad(
        index, host, viewer, PeerSession(Role.HOST, code), PeerSession(Role.VIEWER, code)
    )
    await asyncio.gather(establish(host, load.host_session), establish(viewer, load.viewer_session))
    await host.send_binary(load.host_session.seal(messages.Hello((1,), (), *SCREEN)))
    await viewer.send_binary(load.viewer_session.seal(messages.Hello((1,), (), 0, 0)))
    assert isinstance(await receive_message(viewer, load.viewer_session), messages.Hello)
    assert isinstance(await receive_message(host, load.host_session), messages.Hello)
    await host.send_binary(
        load.host_session.seal(messages.ConsentState(messages.ConsentLevel.VIEW))
    )
    await host.send_control(control.Consent(level=control.ReportedConsent.VIEW))
    assert isinstance(await receive_message(viewer, load.viewer_session), messages.ConsentState)
    return load, route.current.url != entry.url


async def report_checkpoints(
    load: SessionLoad, plan: Plan, every_seconds: float, sent: list[int]
) -> None:
    """Both sides report a checkpoint every `every_seconds` (spread over the sessions)."""
    rng = random.Random(load.index)
    moment = plan.first_tick + every_seconds * load.index / plan.total_sessions
    records = 0
    while moment <= plan.window_end:
        await asyncio.sleep(max(0.0, moment - time.time()))
        moment += every_seconds
        records += 1
        for link in (load.host, load.viewer):
            await link.send_control(control.Checkpoint(records=records, head=rng.randbytes(32)))
            sent[0] += 1


async def stream_and_report(
    load: SessionLoad, plan: Plan, every_seconds: float, sent: list[int]
) -> None:
    reporter = asyncio.create_task(report_checkpoints(load, plan, every_seconds, sent))
    try:
        await stream(load, plan)
    finally:
        reporter.cancel()
        await asyncio.gather(reporter, return_exceptions=True)


async def run(args: argparse.Namespace) -> None:
    token = os.environ["FERNWARTUNG_TOKEN"]
    places = parse_places(args.relays)
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def guarded(index: int) -> tuple[SessionLoad, bool] | None:
        async with gate:
            try:
                async with asyncio.timeout(SETUP_TIMEOUT_SECONDS):
                    return await open_session(places, token, index)
            except (FernwartungError, TimeoutError, AssertionError) as error:
                print(f"session {index} not set up: {type(error).__name__}", file=sys.stderr)
                return None

    indices = range(args.first_index, args.first_index + args.sessions)
    opened = [found for found in await asyncio.gather(*(guarded(i) for i in indices)) if found]
    loads = [load for load, _redirected in opened]
    try:
        say(f"READY {len(loads)} {args.sessions - len(loads)}")
        command = (await read_line()).split()
        if command[:1] != ["STREAM"]:
            return
        first_tick, window_start, window_end = map(float, command[1:4])
        plan = Plan(
            first_tick,
            window_start,
            window_end,
            args.rate,
            synthetic_tiles(args.tiles, args.tile_bytes, random.Random(args.first_index)),
            args.total_sessions,
        )
        sent = [0]
        await asyncio.gather(
            *(stream_and_report(load, plan, args.checkpoint_seconds, sent) for load in loads)
        )
        result = summary(loads, args.sessions - len(loads), plan)
        result["redirected"] = sum(redirected for _load, redirected in opened)
        result["checkpoints_sent"] = sent[0]
        say("RESULT " + json.dumps(result))
        await read_line()  # STOP, or the end of stdin
    finally:
        await close_all(loads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relays", required=True, help="URL#PIN,URL#PIN,...")
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--first-index", type=int, default=0)
    parser.add_argument("--total-sessions", type=int, required=True)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--tiles", type=int, default=4)
    parser.add_argument("--tile-bytes", type=int, default=1200)
    parser.add_argument("--checkpoint-seconds", type=float, default=5.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
