"""The customer's Tk agent on Xvfb, in German and English, through every state: code,
consent, sharing, control request, paused, view only, ended by each side, relay
unreachable; the window is still there after the end (issue 21, "Show")."""

from __future__ import annotations

import pytest

from tests.support.ui_walk import walk_host


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("ending", ["customer", "technician", "unreachable"])
async def test_tk_agent_walks_through_every_state(relay, on_display, language, ending):
    pytest.importorskip("tkinter")
    await walk_host(relay, language, ending)
