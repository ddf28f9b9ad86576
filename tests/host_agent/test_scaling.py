"""The agent's window at 200 % (GDK_SCALE=2): type twice as large, and nothing cut off.
Measured in processes of their own on a large Xvfb (Tk keeps its X connection, which must
end with the screen)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import start_xvfb, stop_process
from tests.host_agent.test_ui_terminal import REPO

MEASURE = r"""
import json, tkinter
from tkinter import font
from host_agent.agent import AgentSettings
from host_agent.texts import Texts
from host_agent.ui_tk import HostWindow, apply_scaling

class FakeAgent:
    settings = AgentSettings("wss://127.0.0.1:1")

root = tkinter.Tk()
apply_scaling(root)
window = HostWindow(root, Texts("de"), "Bedingungen", FakeAgent())
root.update()
print(json.dumps({
    "zero": font.nametofont("TkDefaultFont", root=root).measure("0"),
    "width": root.winfo_reqwidth(),
    "status_wrap": int(str(window.status.cget("wraplength"))),
}))
"""


def measure(display, scale: str) -> dict[str, int]:  # noqa: ANN001
    env = {**display.env(), "GDK_SCALE": scale, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", MEASURE], env=env, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


def test_the_agent_window_grows_with_the_desktops_scaling():
    process, display = start_xvfb(2560, 1440)
    try:
        one, two = measure(display, "1"), measure(display, "2")
    finally:
        stop_process(process)
    assert two["zero"] >= 1.8 * one["zero"]  # the type
    assert two["status_wrap"] >= 1.8 * one["status_wrap"]  # lines wrap as late as at 100 %
    assert 1.6 * one["width"] <= two["width"] <= 2560  # and the window holds them
