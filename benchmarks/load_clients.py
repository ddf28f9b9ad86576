"""One load-generator process for `benchmarks/load.py`: many synthetic hosts and headless
viewers in one asyncio loop, speaking the real protocol through the relay.

Each session: the host registers, the viewer joins with the technician token, both run the
PAKE handshake (`protocol.session.PeerSession`), exchange `Hello`, the host reports consent
(end to end and to the relay), then the host sends `FrameUpdate`s of small synthetic tiles
at a fixed rate under the contract's flow control (at most FRAME_WINDOW un-acked) and the
viewer answers each with an `Ack`. Nothing is captured or drawn.

Driven over stdin/stdout by the parent, one line each way per step:

    parent -> worker   (started with --url, --sessions, ...; token in FERNWARTUNG_TOKEN)
    worker -> parent   READY <established> <failed>
    parent -> worker   STREAM <first tick> <window start> <window end>   (wall clock, seconds)
    worker -> parent   RESULT <json>
    parent -> worker   STOP        (or end of stdin): close every link, exit
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from endpoint.relay_link import RelayLink, open_link  # noqa: E402
from protocol import control, messages  # noqa: E402
from protocol.codes import new_code  # noqa: E402
from protocol.errors import FernwartungError  # noqa: E402
from protocol.handshake import Role  # noqa: E402
from protocol.session import Established, PeerSession, Received, Send, SessionState  # noqa: E402

FRAME_WINDOW = 2
SCREEN = (1920, 1080)
TILE_SIDE = 64
SETUP_CONCURRENCY = 8
SETUP_TIMEOUT_SECONDS = 60.0
RECEIVE_TIMEOUT_SECONDS = 20.0
DRAIN_SECONDS = 3.0


@dataclass
class SessionLoad:
    """One streaming session's two links, two end-to-end sessions and what they measured."""

    index: int
    host: RelayLink
    viewer: RelayLink
    host_session: PeerSession
    viewer_session: PeerSession
    in_flight: int = 0
    sent_at: dict[int, float] = field(default_factory=dict)
    updates_sent: int = 0
    updates_skipped: int = 0  # ticks with FRAME_WINDOW updates still un-acked
    latencies: list[float] = field(default_factory=list)  # capture -> arrival, in window
    round_trips: list[float] = field(default_factory=list)  # send -> ack, in window
    messages_received: int = 0  # binary frames that arrived at either side, in window
    bytes_received: int = 0
    seconds_with_updates: set[int] = field(default_factory=set)
    error: str | None = None
    acked: asyncio.Event = field(default_factory=asyncio.Event)


async def receive(link: RelayLink) -> control.Control | bytes:
    async with asyncio.timeout(RECEIVE_TIMEOUT_SECONDS):
        return await link.receive()


async def establish(link: RelayLink, session: PeerSession) -> None:
    """Feed binary frames into the handshake until the channel is open."""
    await link.send_binary(session.start())
    while session.state is not SessionState.OPEN:
        frame = await receive(link)
        if not isinstance(frame, bytes):
            raise FernwartungError(f"unexpected '{frame.TYPE}' during the handshake")
        for event in session.receive(frame):
            if isinstance(event, Send):
                await link.send_binary(event.data)


async def receive_message(link: RelayLink, session: PeerSession) -> messages.Message:
    while True:
        frame = await receive(link)
        if isinstance(frame, bytes):
            for event in session.receive(frame):
                if isinstance(event, Received):
                    return event.message
                assert not isinstance(event, Send | Established)


async def open_session(url: str, fingerprint: str | None, token: str, index: int) -> SessionLoad:
    host = await open_link(url, "/v1/host", fingerprint_pin=fingerprint)
    await host.send_control(control.Register(version=1))
    registered = await receive(host)
    assert isinstance(registered, control.Registered), registered
    code = new_code(registered.session)
    viewer = await open_link(url, "/v1/viewer", fingerprint_pin=fingerprint, token=token)
    await viewer.send_control(
        control.Join(session=code.session, version=1, customer=f"load{index}")
    )
    assert isinstance(await receive(viewer), control.Joined)
    assert isinstance(await receive(host), control.PeerJoined)
    load = SessionLoad(
        index, host, viewer, PeerSession(Role.HOST, code), PeerSession(Role.VIEWER, code)
    )
    await asyncio.gather(establish(host, load.host_session), establish(viewer, load.viewer_session))
    host_hello = messages.Hello((1,), (), SCREEN[0], SCREEN[1])
    await host.send_binary(load.host_session.seal(host_hello))
    await viewer.send_binary(load.viewer_session.seal(messages.Hello((1,), (), 0, 0)))
    assert isinstance(await receive_message(viewer, load.viewer_session), messages.Hello)
    assert isinstance(await receive_message(host, load.host_session), messages.Hello)
    await host.send_binary(
        load.host_session.seal(messages.ConsentState(messages.ConsentLevel.VIEW))
    )
    await host.send_control(control.Consent(level=control.ReportedConsent.VIEW))
    assert isinstance(await receive_message(viewer, load.viewer_session), messages.ConsentState)
    return load


def synthetic_tiles(count: int, size: int, rng: random.Random) -> tuple[messages.Tile, ...]:
    """`count` JPEG-sized tiles of random bytes along the top rows of the screen."""
    per_row = SCREEN[0] // TILE_SIDE
    return tuple(
        messages.Tile(
            x=(i % per_row) * TILE_SIDE,
            y=(i // per_row) * TILE_SIDE,
            width=TILE_SIDE,
            height=TILE_SIDE,
            codec=messages.Codec.JPEG,
            data=rng.randbytes(size),
        )
        for i in range(count)
    )


@dataclass(frozen=True)
class Plan:
    first_tick: float
    window_start: float
    window_end: float
    rate: float
    tiles: tuple[messages.Tile, ...]
    total_sessions: int

    def in_window(self, moment: float) -> bool:
        return self.window_start <= moment <= self.window_end


async def send_updates(load: SessionLoad, plan: Plan) -> None:
    """Host: one frame update per tick, skipped while FRAME_WINDOW updates are un-acked."""
    interval = 1.0 / plan.rate
    # Spread the sessions evenly over one interval so they do not all send at once.
    tick = plan.first_tick + interval * load.index / plan.total_sessions
    seq = 0
    while tick <= plan.window_end:
        await asyncio.sleep(max(0.0, tick - time.time()))
        tick += interval
        if load.in_flight >= FRAME_WINDOW:
            load.updates_skipped += plan.in_window(time.time())
            continue
        seq += 1
        now = time.time()
        update = messages.FrameUpdate(seq, now, SCREEN[0], SCREEN[1], plan.tiles)
        load.in_flight += 1
        load.sent_at[seq] = now
        load.updates_sent += plan.in_window(now)
        await load.host.send_binary(load.host_session.seal(update))
    async with asyncio.timeout(DRAIN_SECONDS):
        while load.in_flight:
            load.acked.clear()
            await load.acked.wait()


async def receive_acks(load: SessionLoad, plan: Plan) -> None:
    while True:
        frame = await load.host.receive()
        now = time.time()
        if not isinstance(frame, bytes):
            continue
        for event in load.host_session.receive(frame):
            if isinstance(event, Received) and isinstance(event.message, messages.Ack):
                sent = load.sent_at.pop(event.message.seq)
                load.in_flight -= 1
                load.acked.set()
                if plan.in_window(now):
                    load.round_trips.append(now - sent)
                    load.messages_received += 1
                    load.bytes_received += len(frame)


async def receive_updates(load: SessionLoad, plan: Plan) -> None:
    while True:
        frame = await load.viewer.receive()
        now = time.time()
        if not isinstance(frame, bytes):
            continue
        for event in load.viewer_session.receive(frame):
            if isinstance(event, Received) and isinstance(event.message, messages.FrameUpdate):
                update = event.message
                await load.viewer.send_binary(load.viewer_session.seal(messages.Ack(update.seq)))
                if plan.in_window(now):
                    load.messages_received += 1
                    load.bytes_received += len(frame)
                    load.seconds_with_updates.add(int(now - plan.window_start))
                if plan.in_window(update.capture_time):
                    load.latencies.append(now - update.capture_time)


async def stream(load: SessionLoad, plan: Plan) -> None:
    """Run one session's streaming; any failure is noted on the session, not raised."""
    receivers = [
        asyncio.create_task(receive_acks(load, plan)),
        asyncio.create_task(receive_updates(load, plan)),
    ]
    try:
        sender = asyncio.create_task(send_updates(load, plan))
        done, _ = await asyncio.wait([sender, *receivers], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a receiver only ends by raising
    except (FernwartungError, TimeoutError, AssertionError, KeyError) as error:
        load.error = f"{type(error).__name__}: {error}"
    finally:
        for task in [sender, *receivers]:
            task.cancel()
        await asyncio.gather(sender, *receivers, return_exceptions=True)


def summary(loads: list[SessionLoad], failed_setup: int, plan: Plan) -> dict[str, object]:
    seconds = int(plan.window_end - plan.window_start)
    held = [
        load.error is None and len(load.seconds_with_updates & set(range(seconds))) == seconds
        for load in loads
    ]
    return {
        "sessions": len(loads),
        "failed_setup": failed_setup,
        "held": sum(held),
        "errors": sorted({load.error for load in loads if load.error})[:5],
        "updates_sent": sum(load.updates_sent for load in loads),
        "updates_skipped": sum(load.updates_skipped for load in loads),
        "updates_received": sum(len(load.latencies) for load in loads),
        "messages_received": sum(load.messages_received for load in loads),
        "bytes_received": sum(load.bytes_received for load in loads),
        "latencies_ms": [round(1000 * v, 3) for load in loads for v in load.latencies],
        "round_trips_ms": [round(1000 * v, 3) for load in loads for v in load.round_trips],
    }


async def close_all(loads: list[SessionLoad]) -> None:
    async def close(load: SessionLoad) -> None:
        with contextlib.suppress(FernwartungError):
            await load.host.send_control(control.End(reason="load benchmark over"))
        for link in (load.host, load.viewer):
            with contextlib.suppress(Exception):
                await link.close()

    await asyncio.gather(*(close(load) for load in loads))


async def read_line() -> str:
    return await asyncio.to_thread(sys.stdin.readline)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def run(args: argparse.Namespace) -> None:
    token = os.environ["FERNWARTUNG_TOKEN"]
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def guarded(index: int) -> SessionLoad | None:
        async with gate:
            try:
                async with asyncio.timeout(SETUP_TIMEOUT_SECONDS):
                    return await open_session(args.url, args.fingerprint, token, index)
            except (FernwartungError, TimeoutError, AssertionError) as error:
                print(f"session {index} not set up: {type(error).__name__}", file=sys.stderr)
                return None

    indices = range(args.first_index, args.first_index + args.sessions)
    opened = await asyncio.gather(*(guarded(i) for i in indices))
    loads = [load for load in opened if load is not None]
    try:
        say(f"READY {len(loads)} {args.sessions - len(loads)}")
        command = (await read_line()).split()
        if command[:1] != ["STREAM"]:
            return
        first_tick, window_start, window_end = map(float, command[1:4])
        rng = random.Random(args.first_index)
        plan = Plan(
            first_tick,
            window_start,
            window_end,
            args.rate,
            synthetic_tiles(args.tiles, args.tile_bytes, rng),
            args.total_sessions,
        )
        await asyncio.gather(*(stream(load, plan) for load in loads))
        say("RESULT " + json.dumps(summary(loads, args.sessions - len(loads), plan)))
        await read_line()  # STOP, or the end of stdin
    finally:
        await close_all(loads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--fingerprint")
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--first-index", type=int, default=0)
    parser.add_argument("--total-sessions", type=int, required=True)
    parser.add_argument("--rate", type=float, default=8.0)
    parser.add_argument("--tiles", type=int, default=4)
    parser.add_argument("--tile-bytes", type=int, default=1200)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
