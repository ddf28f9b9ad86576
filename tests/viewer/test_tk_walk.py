"""The technician's Tk viewer on Xvfb, in German and English, through every state: waiting
for approval, view only, control, paused, control taken back, ended by each side, denied,
relay unreachable; the window is still there after the end (issue 21, "Show")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Display
from tests.support.relay import RelayInfo, running_relay
from tests.support.ui_walk import walk_viewer


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RelayInfo]:
    async with running_relay(tmp_path / "relay") as info:
        yield info


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("ending", ["customer", "technician", "denied", "unreachable"])
async def test_tk_viewer_walks_through_every_state(
    relay, xvfb: Display, monkeypatch, language, ending
):
    pytest.importorskip("tkinter")
    monkeypatch.setenv("DISPLAY", xvfb.name)
    await walk_viewer(relay, language, ending)
