from __future__ import annotations

from host_agent.inject import NoInjectionBackend
from host_agent.synthetic import SyntheticSource
from protocol import messages
from tests.host_agent.harness import host_session
from tests.support.relay import running_relay


async def test_synthetic_screen_streams_to_a_viewer(tmp_path):
    async with (
        running_relay(tmp_path / "relay") as relay,
        host_session(relay, SyntheticSource, NoInjectionBackend) as running,
    ):
        viewer = running.viewer
        assert viewer is not None
        first = await viewer.next_frame()
        assert (first.screen_width, first.screen_height) == (1280, 720)
        second = await viewer.next_frame()
        assert second.seq == first.seq + 1
        state = await viewer.next_of(messages.ConsentState)
        assert state.level is messages.ConsentLevel.VIEW
