"""A live, recorded session of the real host agent (synthetic screen) and viewer in the
test's event loop, for the resume tests: what to wait on, and how to check afterwards that
both recordings are one chain with the gap noted.

    async with live_session(tmp_path, relay.data_dir, relay.fingerprint,
                            host_url=proxy.url("wss"), viewer_url=relay.url) as live:
        await live.watch.frames_beyond(2)
        ...
        outcome, status = await live.finish()
    assert_recordings_agree(live, relay.data_dir)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from endpoint.evidence import EvidenceSettings, SessionEvidence
from fernwartung.recording_cli import read_database_checkpoints, read_ledger
from host_agent import events as ui
from host_agent.agent import AgentSettings, HostAgent
from host_agent.evidence import terms_hash
from host_agent.inject import Bounds, NoInjectionBackend
from host_agent.synthetic import SyntheticSource
from host_agent.texts import Texts
from protocol import messages
from protocol.codes import parse_code
from protocol.handshake import Role
from protocol.recording import RecordKind, decode_local
from protocol.recording_reader import RecordReader
from protocol.recording_verify import verify
from relay.ledger import Ledger
from tests.e2e.test_recording_e2e import checkpoints_in
from tests.host_agent.harness import UiRecorder
from tests.support.relay import RelayInfo, add_technician, running_relay
from tests.support.tcp_proxy import TcpProxy, tcp_proxy
from viewer.client import ClientSettings, Phase, StatusChanged, ViewerClient
from viewer.outcome import Outcome
from viewer.stats import FrameStat

TECHNICIAN = "Erika Muster"
WAIT_SECONDS = 20.0
CHECKPOINT_SECONDS = 0.5


class CountingBackend(NoInjectionBackend):
    """Inputs go nowhere, but each one that reaches the screen is counted."""

    injected: list[str] = []

    def __init__(self, bounds: Bounds) -> None:
        super().__init__(bounds)

    def move(self, x: int, y: int) -> None:
        CountingBackend.injected.append(f"move {x},{y}")


@dataclass
class Watch:
    """What the test waits on: frames the viewer applied, and the viewer's phases."""

    frames: int = 0
    frame_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    phases: list[Phase] = field(default_factory=list)
    phase_changed: asyncio.Event = field(default_factory=asyncio.Event)
    in_control: asyncio.Event = field(default_factory=asyncio.Event)
    checkpoints: int = 0  # the host's, as the viewer received them
    checkpoint_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    stats: list[FrameStat] = field(default_factory=list)  # every frame update applied
    sent_messages: list[tuple[messages.Message, bytes]] = field(default_factory=list)

    # a viewer MessageTap
    def sent(self, message: messages.Message, plaintext: bytes, wall_time: float) -> None:
        self.sent_messages.append((message, plaintext))

    def received(self, message: messages.Message, plaintext: bytes, wall_time: float) -> None:
        if isinstance(message, messages.Checkpoint):
            self.checkpoints += 1
            self.checkpoint_arrived.set()

    async def checkpoints_beyond(self, count: int) -> None:
        async with asyncio.timeout(WAIT_SECONDS):
            while self.checkpoints <= count:
                self.checkpoint_arrived.clear()
                await self.checkpoint_arrived.wait()

    def on_stat(self, stat: FrameStat) -> None:
        self.stats.append(stat)
        self.frames += 1
        self.frame_arrived.set()

    def on_event(self, event: object) -> None:
        if not isinstance(event, StatusChanged):
            return
        status = event.status
        if not self.phases or self.phases[-1] is not status.phase:
            self.phases.append(status.phase)
            self.phase_changed.set()
        if status == dataclasses.replace(
            status, phase=Phase.ACTIVE, consent=messages.ConsentLevel.CONTROL
        ):
            self.in_control.set()

    async def frames_beyond(self, count: int) -> None:
        async with asyncio.timeout(WAIT_SECONDS):
            while self.frames <= count:
                self.frame_arrived.clear()
                await self.frame_arrived.wait()

    async def phase(self, wanted: Phase) -> None:
        async with asyncio.timeout(WAIT_SECONDS):
            while wanted not in self.phases:
                self.phase_changed.clear()
                await self.phase_changed.wait()


@dataclass
class Live:
    agent: HostAgent
    host_ui: UiRecorder
    host_task: asyncio.Task[int]
    client: ViewerClient
    viewer_task: asyncio.Task[Outcome]
    watch: Watch
    host_recording: SessionEvidence
    viewer_recording: SessionEvidence

    async def finish(self) -> tuple[Outcome, int]:
        self.client.request_end("the test is over")
        async with asyncio.timeout(WAIT_SECONDS):
            return await self.viewer_task, await self.host_task


@contextlib.asynccontextmanager
async def live_session(
    tmp_path: Path,
    data_dir: Path,
    fingerprint: str | None,
    *,
    host_url: str,
    viewer_url: str,
    give_up_seconds: float = 30.0,
    token: str | None = None,
    viewer_fingerprint: str | None = None,
) -> AsyncIterator[Live]:
    """Host and viewer in control, both recording, frames flowing. `token`: the
    technician's, when not added to `data_dir`'s ledger here; `viewer_fingerprint`: the
    viewer's pin, when its relay is another than the host's."""
    if token is None:
        token = add_technician(data_dir, TECHNICIAN)
    host_ui = UiRecorder()
    host_recording = SessionEvidence(Role.HOST, EvidenceSettings(
        tmp_path / "host", host_url, terms_hash("terms"),
        checkpoint_interval_seconds=CHECKPOINT_SECONDS,
    ))  # fmt: skip
    settings = AgentSettings(host_url, fingerprint, resume_give_up_seconds=give_up_seconds)
    agent = HostAgent(
        settings, Texts("en"), host_ui.notify, lambda: SyntheticSource(1), CountingBackend,
        evidence=host_recording,
    )  # fmt: skip
    host_task = asyncio.create_task(agent.run())
    viewer_task: asyncio.Task[Outcome] | None = None
    try:
        code = await host_ui.wait_for(ui.CodeReady)
        viewer_recording = SessionEvidence(Role.VIEWER, EvidenceSettings(
            tmp_path / "viewer", viewer_url, checkpoint_interval_seconds=CHECKPOINT_SECONDS
        ))  # fmt: skip
        watch = Watch()
        client = ViewerClient(
            ClientSettings(
                viewer_url, parse_code(code.spoken), token, viewer_fingerprint or fingerprint,
                resume_give_up_seconds=give_up_seconds,
            ),
            on_event=watch.on_event, on_stat=watch.on_stat, taps=[watch],
            evidence=viewer_recording,
        )  # fmt: skip
        viewer_task = asyncio.create_task(client.run())
        await host_ui.wait_for(ui.ConsentAsked)
        agent.command(ui.Answer(messages.ConsentLevel.CONTROL))
        async with asyncio.timeout(WAIT_SECONDS):
            await watch.in_control.wait()
        await watch.frames_beyond(0)
        yield Live(agent, host_ui, host_task, client, viewer_task, watch, host_recording,
                   viewer_recording)  # fmt: skip
    finally:
        agent.kill()
        tasks = [task for task in (host_task, viewer_task) if task is not None]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(WAIT_SECONDS):
                await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:
            task.cancel()


@contextlib.asynccontextmanager
async def session_through_proxy(
    tmp_path: Path, *, cut: str, **relay_options: float
) -> AsyncIterator[tuple[RelayInfo, TcpProxy, Live]]:
    """A live session on a fresh relay, with the side `cut` names ("host", "viewer" or
    "both") connected through a TCP proxy the test can cut."""
    async with (
        running_relay(tmp_path / "relay", **relay_options) as relay,
        tcp_proxy(relay.port) as proxy,
        live_session(
            tmp_path,
            relay.data_dir,
            relay.fingerprint,
            host_url=proxy.url("wss") if cut in ("host", "both") else relay.url,
            viewer_url=proxy.url("wss") if cut in ("viewer", "both") else relay.url,
        ) as live,  # fmt: skip
    ):
        yield relay, proxy, live


def gaps_in(path: Path) -> list[str]:
    with path.open("rb") as stream:
        reader = RecordReader(stream)
        reader.read_header()
        return [
            decode_local(RecordKind.GAP, record.payload).reason
            for record in reader
            if record.kind is RecordKind.GAP
        ]


def assert_recordings_agree(live: Live, data_dir: Path | None, database: str | None = None) -> None:
    """Both copies verify against the ledger (the SQLite one in `data_dir`, or the
    PostgreSQL at `database`), note the gap, and agree on every checkpoint."""
    host_file, viewer_file = live.host_recording.path, live.viewer_recording.path
    assert host_file is not None and viewer_file is not None
    for path in (host_file, viewer_file):
        with path.open("rb") as stream:
            header = RecordReader(stream).read_header()
        # With the relay's byte counts (SQLite ledger): the messages sent again after a
        # resume, and its frames, are accounted for (no honest file is called cut).
        forwarded = None
        if database is not None:
            checkpoints = read_database_checkpoints(database, header)
        else:
            assert data_dir is not None
            checkpoints, forwarded = read_ledger(data_dir, header)
            assert forwarded.from_side(header.side) is not None
        result = verify(path.read_bytes(), checkpoints, forwarded)
        assert result.intact, result.reason
        gaps = gaps_in(path)
        assert any("dropped" in gap for gap in gaps), gaps
        assert any(gap.startswith("resumed after") for gap in gaps), gaps
    host_heads, viewer_heads = checkpoints_in(host_file), checkpoints_in(viewer_file)
    assert host_heads == viewer_heads
    assert len(host_heads.host_to_viewer) >= 2 and len(host_heads.viewer_to_host) >= 2


def session_rows(data_dir: Path) -> list[dict[str, object]]:
    ledger = Ledger(data_dir)
    try:
        return ledger.session_rows()
    finally:
        ledger.close()


async def wait_for_host_resumed(live: Live) -> None:
    await live.host_ui.wait_for(ui.Reconnecting)
    await live.host_ui.wait_for(ui.Reconnected)
