"""Run a real host agent in the test's event loop against the real relay."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from host_agent import events as ui
from host_agent.agent import AgentSettings, HostAgent
from host_agent.capture import ScreenSource
from host_agent.inject import Bounds, InputBackend
from host_agent.texts import Texts
from protocol.messages import ConsentLevel
from tests.host_agent.viewer_client import WAIT_SECONDS, TestViewer
from tests.support.relay import RelayInfo, add_technician


@dataclass
class UiRecorder:
    """Stands in for a customer UI: keeps every event the agent shows."""

    events: asyncio.Queue[ui.UiEvent] = field(default_factory=asyncio.Queue)
    lines: list[str] = field(default_factory=list)

    def notify(self, event: ui.UiEvent) -> None:
        if isinstance(event, ui.ActivityLine):
            self.lines.append(event.text)
        self.events.put_nowait(event)

    async def wait_for(self, kind: type, timeout: float = WAIT_SECONDS):  # type: ignore[no-untyped-def]
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if isinstance(event, kind):
                    return event


@dataclass
class RunningAgent:
    agent: HostAgent
    ui: UiRecorder
    task: asyncio.Task[int]
    viewer: TestViewer | None = None


@contextlib.asynccontextmanager
async def host_session(
    relay: RelayInfo,
    make_source: Callable[[], ScreenSource],
    make_backend: Callable[[Bounds], InputBackend],
    answer: ConsentLevel | None = ConsentLevel.VIEW,
    language: str = "en",
) -> AsyncIterator[RunningAgent]:
    """An agent with its code joined by a test viewer, and (optionally) the customer's answer."""
    recorder = UiRecorder()
    agent = HostAgent(
        AgentSettings(relay.url, relay.fingerprint), Texts(language), recorder.notify,
        make_source, make_backend,
    )  # fmt: skip
    task = asyncio.create_task(agent.run())
    running = RunningAgent(agent, recorder, task)
    try:
        code = await recorder.wait_for(ui.CodeReady)
        token = add_technician(relay.data_dir, f"Alice{id(running)}")
        running.viewer = await TestViewer.join(relay.url, relay.fingerprint, token, code.spoken)
        await recorder.wait_for(ui.ConsentAsked)
        if answer is not None:
            agent.command(ui.Answer(answer))
            await recorder.wait_for(ui.SharingChanged)
        yield running
    finally:
        if not task.done():
            agent.command(ui.EndSession())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WAIT_SECONDS):
                    await task
        if running.viewer is not None:
            await running.viewer.close()
