"""Both windows at 200 % (GDK_SCALE=2): type twice as large, and nothing cut off."""

from __future__ import annotations

import contextlib

import pytest

from host_agent.agent import AgentSettings
from host_agent.texts import Texts
from tests.conftest import start_xvfb, stop_process


class FakeAgent:
    settings = AgentSettings("wss://127.0.0.1:1")

    def kill(self) -> None:
        pass

    def command_threadsafe(self, command) -> None:  # noqa: ANN001
        pass


def measure(scale: str, monkeypatch) -> tuple[int, int, int]:  # noqa: ANN001
    tkinter = pytest.importorskip("tkinter")
    from tkinter import font

    from host_agent.ui_tk import HostWindow, apply_scaling

    monkeypatch.setenv("GDK_SCALE", scale)
    root = tkinter.Tk()
    try:
        apply_scaling(root)
        window = HostWindow(root, Texts("de"), "Bedingungen", FakeAgent())  # type: ignore[arg-type]
        root.update()
        zero = font.nametofont("TkDefaultFont", root=root).measure("0")
        width = root.winfo_reqwidth()
        code_width = window.code.winfo_reqwidth()
        window.close()
        return zero, width, code_width
    finally:
        with contextlib.suppress(tkinter.TclError):
            root.destroy()


def test_the_agent_window_grows_with_the_desktops_scaling(monkeypatch):
    process, display = start_xvfb(2560, 1440)
    monkeypatch.setenv("DISPLAY", display.name)
    try:
        one = measure("1", monkeypatch)
        two = measure("2", monkeypatch)
    finally:
        stop_process(process)
    assert two[0] >= 1.8 * one[0]  # the type
    assert two[1] >= 1.6 * one[1]  # the window holds it: wrap lengths grew with it
    assert two[1] <= 2560
