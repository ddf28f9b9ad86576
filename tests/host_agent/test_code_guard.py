"""The host agent guards its code itself, whatever the relay does (issue 20, points 4, 5).

The attacker here is the relay: a small WebSocket server in the test plays a relay that
keeps sending technicians, lies about the code's lifetime, or stalls a code check. (A
lying relay cannot be made of the real one; the agent under attack is the real agent.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection, serve

from host_agent import events as ui
from host_agent.agent import AgentSettings, HostAgent
from host_agent.inject import NoInjectionBackend
from host_agent.synthetic import SyntheticSource
from host_agent.texts import Texts
from protocol import control
from protocol.codes import Code, parse_code
from protocol.errors import FernwartungError
from protocol.handshake import Role
from protocol.session import PeerSession, Send
from tests.host_agent.harness import UiRecorder

WAIT_SECONDS = 20.0
ANSWER_SECONDS = 3.0  # a host that answers a code check does so at once; silence means no


@dataclass
class LyingRelay:
    """Registers hosts, then acts as `script` says on each host connection."""

    script: Callable[[LyingRelay, ServerConnection, str], object]
    expires_in: int = 600
    registrations: list[str] = field(default_factory=list)
    answered: dict[str, int] = field(default_factory=dict)  # code checks a host took part in
    failed_attempts: dict[str, int] = field(default_factory=dict)
    url: str = ""

    async def handler(self, connection: ServerConnection) -> None:
        register = control.decode(await connection.recv())
        assert isinstance(register, control.Register)
        number = f"{480000 + len(self.registrations)}"
        self.registrations.append(number)
        self.answered[number] = 0
        self.failed_attempts[number] = 0
        reply = control.Registered(session=number, expires_in=self.expires_in)
        await connection.send(control.encode(reply))
        with contextlib.suppress(Exception):
            await self.script(self, connection, number)  # type: ignore[misc]

    async def receive(self, connection: ServerConnection, number: str) -> bytes | None:
        """The host's next binary frame; FailedAttempt reports are counted on the way."""
        while True:
            frame = await connection.recv()
            if isinstance(frame, bytes):
                return frame
            if isinstance(control.decode(frame), control.FailedAttempt):
                self.failed_attempts[number] += 1


@contextlib.asynccontextmanager
async def lying_relay(relay: LyingRelay) -> AsyncIterator[LyingRelay]:
    async with serve(relay.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        relay.url = f"ws://127.0.0.1:{port}"
        yield relay


@contextlib.asynccontextmanager
async def agent_at(
    relay: LyingRelay, **settings: float
) -> AsyncIterator[tuple[HostAgent, UiRecorder]]:
    recorder = UiRecorder()
    agent = HostAgent(
        AgentSettings(relay.url, **settings),  # type: ignore[arg-type]
        Texts("en"),
        recorder.notify,
        SyntheticSource,
        NoInjectionBackend,
    )
    task = asyncio.create_task(agent.run())
    try:
        yield agent, recorder
    finally:
        agent.kill()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(WAIT_SECONDS):
                await task


async def guess(relay: LyingRelay, connection: ServerConnection, number: str) -> bool:
    """One technician with a wrong secret: True when the host took part in the check."""
    await connection.send(control.encode(control.PeerJoined(technician="Mallory")))
    viewer = PeerSession(Role.VIEWER, Code(number, "000000"))
    await connection.send(viewer.start())
    frames = 0
    try:
        async with asyncio.timeout(ANSWER_SECONDS):
            while True:
                frame = await relay.receive(connection, number)
                assert frame is not None
                frames += 1
                relay.answered[number] += 1 if frames == 1 else 0
                for event in viewer.receive(frame):
                    if isinstance(event, Send):
                        await connection.send(event.data)
    except FernwartungError:
        return True  # the wrong secret failed the key confirmation: a try was spent
    except TimeoutError:
        return False


async def keep_guessing(relay: LyingRelay, connection: ServerConnection, number: str) -> None:
    for _ in range(40):
        await guess(relay, connection, number)


async def test_a_relay_that_keeps_sending_technicians_gets_three_tries_per_code():
    # Before the fix the agent answered 40 checks of one code on one connection (it counted
    # "40 of 3 tries"): about 13,000 guesses over a code's life.
    async with lying_relay(LyingRelay(keep_guessing)) as relay, agent_at(relay) as (_, recorder):
        first = await recorder.wait_for(ui.CodeReady)
        second = await recorder.wait_for(ui.CodeReady, WAIT_SECONDS)
        assert second.why_new == "new_code_reason"
        assert second.spoken != first.spoken
        number = relay.registrations[0]
        assert relay.failed_attempts[number] == 3
        assert relay.answered[number] <= 3


async def wait_quietly(relay: LyingRelay, connection: ServerConnection, number: str) -> None:
    await connection.wait_closed()


async def test_a_code_expires_on_the_agent_even_when_the_relay_says_it_lives_a_day():
    lying = LyingRelay(wait_quietly, expires_in=86_400)
    async with lying_relay(lying) as relay, agent_at(relay, max_code_ttl_seconds=1.0) as (_, ui_):
        first = await ui_.wait_for(ui.CodeReady)
        second = await ui_.wait_for(ui.CodeReady, WAIT_SECONDS)
        assert second.why_new == "code_expired"
        assert second.spoken != first.spoken


async def test_a_technician_who_joins_after_the_code_expired_gets_no_code_check():
    async def join_late(relay: LyingRelay, connection: ServerConnection, number: str) -> None:
        if len(relay.registrations) == 1:
            await asyncio.sleep(1.5)  # the relay holds the join back past the code's time
            await guess(relay, connection, number)

    lying = LyingRelay(join_late, expires_in=1)
    async with lying_relay(lying) as relay, agent_at(relay) as (_, recorder):
        await recorder.wait_for(ui.CodeReady)
        renewed = await recorder.wait_for(ui.CodeReady, WAIT_SECONDS)
        assert renewed.why_new == "code_expired"
        assert relay.answered[relay.registrations[0]] == 0


async def test_a_stalled_code_check_counts_as_a_failed_try_and_a_late_confirmation_is_refused():
    # Before the fix a confirmation 45 s late was accepted and the consent question shown.
    spoken: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def stall(relay: LyingRelay, connection: ServerConnection, number: str) -> None:
        if len(relay.registrations) > 1:
            return
        code = parse_code(await spoken)  # the real technician's code, read out on the phone
        await connection.send(control.encode(control.PeerJoined(technician="Slow")))
        viewer = PeerSession(Role.VIEWER, code)
        await connection.send(viewer.start())
        confirmations = [
            event.data
            for event in viewer.receive(await relay.receive(connection, number) or b"")
            if isinstance(event, Send)
        ]
        async with asyncio.timeout(WAIT_SECONDS):
            while relay.failed_attempts[number] == 0:
                frame = await connection.recv()
                if isinstance(frame, str) and isinstance(
                    control.decode(frame), control.FailedAttempt
                ):
                    relay.failed_attempts[number] += 1
        for data in confirmations:  # the right code's confirmation, too late
            await connection.send(data)
        await connection.wait_closed()

    async with (
        lying_relay(LyingRelay(stall)) as relay,
        agent_at(relay, handshake_timeout_seconds=1.0) as (_, recorder),
    ):
        spoken.set_result((await recorder.wait_for(ui.CodeReady)).spoken)
        tried = await recorder.wait_for(ui.WrongCodeTried, WAIT_SECONDS)
        assert tried.tries == 1
        with contextlib.suppress(TimeoutError):
            await recorder.wait_for(ui.ConsentAsked, 2.0)
            raise AssertionError("the consent question was shown after a late confirmation")
