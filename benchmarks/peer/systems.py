"""The systems under test, each behind the same small interface.

A system owns its display (Xvfb, or Xvnc which is the X server itself), then serves that
display to a client that counts what arrives. `Attached` says where the records go and
which processes' CPU time is the system's.
"""

from __future__ import annotations

import subprocess
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from . import rfb_wire
from .processes import (
    MissingTool,
    free_port,
    open_log,
    require_tool,
    running,
    start_x_server,
    wait_for_port,
)
from .records import Capture
from .rfb_client import CountingViewer

SCREEN_WIDTH = 1920
SCREEN_HEIGHT = 1080
SCREEN_DEPTH = 24
SCREEN_SIZE = f"{SCREEN_WIDTH}x{SCREEN_HEIGHT}x{SCREEN_DEPTH}"

# x11vnc naps up to ~1.5 s when the screen is quiet (default -nap): p50 60-100 ms, p95 ~700
# ms on the square and typing scenarios. Support work is interactive: measure it awake.
X11VNC_EXTRA: list[str] = ["-nonap"]
# x11vnc sometimes lingers for seconds in its exit clean-up; nothing of it is measured
X11VNC_STOP_GRACE_SECONDS = 1.0
XVFB_COMMAND = ["Xvfb", "-screen", "0", SCREEN_SIZE, "-nolisten", "tcp", "-noreset"]


@dataclass(slots=True)
class Display:
    """An X display the workload draws on: its name and the X server's process."""

    name: str
    process: subprocess.Popen
    rfb_port: int | None = None  # set when the X server is itself the VNC server (Xvnc)


@dataclass(slots=True)
class Attached:
    """A system serving a display: its records and the PIDs whose CPU time counts.

    `cpu_pids` maps a role ("server": the VNC server or host agent; "x_server": the X
    server when it is a separate process) to a PID.
    """

    capture: Capture
    cpu_pids: dict[str, int] = field(default_factory=dict)
    extra_cpu_pids: dict[str, int] = field(default_factory=dict)  # reported, not compared

    def all_cpu_pids(self) -> dict[str, int]:
        return {**self.cpu_pids, **self.extra_cpu_pids}


class System(Protocol):
    name: str
    description: str

    def check_installed(self) -> None:
        """Raise MissingTool naming the package when something is missing."""

    def start_display(self, stack: ExitStack) -> Display: ...

    def attach(self, display: Display, stack: ExitStack, workdir: Path) -> Attached:
        """Start serving `display` and the counting client; return once the first update
        arrived. Everything started is registered on `stack` to be stopped."""


def start_xvfb(stack: ExitStack) -> Display:
    process, name = start_x_server(XVFB_COMMAND, "Xvfb")
    stack.enter_context(running(process))
    return Display(name, process)


def _attach_counting_viewer(port: int, encodings: tuple[int, ...], stack: ExitStack) -> Capture:
    capture = Capture()
    viewer = CountingViewer(port, capture, encodings)
    stack.callback(viewer.close)
    viewer.wait_first_update()
    return capture


class X11vnc:
    """x11vnc 0.9.x polling an Xvfb display (its defaults: XDAMAGE hints, SHM, -defer 20)."""

    def __init__(self, tight: bool = False) -> None:
        self.name = "x11vnc-tight" if tight else "x11vnc"
        self.encodings = rfb_wire.TIGHT_ENCODINGS if tight else rfb_wire.BENCHMARK_ENCODINGS
        self.description = (
            f"x11vnc -nonap on Xvfb, {'Tight JPEG quality 8' if tight else 'ZRLE'}, "
            "one request in flight"
        )

    def check_installed(self) -> None:
        require_tool("Xvfb", "xvfb")
        require_tool("x11vnc", "x11vnc")

    def start_display(self, stack: ExitStack) -> Display:
        return start_xvfb(stack)

    def attach(self, display: Display, stack: ExitStack, workdir: Path) -> Attached:
        port = free_port()
        server = subprocess.Popen(
            ["x11vnc", "-display", display.name, "-localhost", "-nopw", "-shared",
             "-forever", "-rfbport", str(port), *X11VNC_EXTRA],
            stdin=subprocess.DEVNULL,
            stdout=open_log(stack, workdir / "x11vnc.out.log"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        stack.enter_context(running(server, X11VNC_STOP_GRACE_SECONDS))
        wait_for_port(port, server, "x11vnc")
        capture = _attach_counting_viewer(port, self.encodings, stack)
        return Attached(capture, {"server": server.pid, "x_server": display.process.pid})


class Xvnc:
    """TigerVNC's Xvnc: the X server and the VNC server in one process (defaults: 60 Hz)."""

    def __init__(self, tight: bool = False) -> None:
        self.name = "Xvnc-tight" if tight else "Xvnc"
        self.encodings = rfb_wire.TIGHT_ENCODINGS if tight else rfb_wire.BENCHMARK_ENCODINGS
        self.description = (
            f"TigerVNC Xvnc (X server and VNC server in one), "
            f"{'Tight JPEG quality 8' if tight else 'ZRLE'}, one request in flight"
        )

    def check_installed(self) -> None:
        require_tool("Xvnc", "tigervnc-standalone-server")

    def start_display(self, stack: ExitStack) -> Display:
        port = free_port()
        command = [
            "Xvnc", "-geometry", f"{SCREEN_WIDTH}x{SCREEN_HEIGHT}", "-depth", str(SCREEN_DEPTH),
            "-rfbport", str(port), "-localhost", "-SecurityTypes", "None", "-AlwaysShared",
            "-nolisten", "tcp", "-noreset",
        ]  # fmt: skip
        process, name = start_x_server(command, "Xvnc")
        stack.enter_context(running(process))
        return Display(name, process, rfb_port=port)

    def attach(self, display: Display, stack: ExitStack, workdir: Path) -> Attached:
        assert display.rfb_port is not None
        wait_for_port(display.rfb_port, display.process, "Xvnc")
        capture = _attach_counting_viewer(display.rfb_port, self.encodings, stack)
        return Attached(capture, {"server": display.process.pid})


def available_systems(names: list[str]) -> tuple[list[System], list[str]]:
    """The systems asked for that can run here, and a sentence for each that cannot."""
    from .fernwartung_side import Fernwartung

    known: dict[str, System] = {
        "x11vnc": X11vnc(),
        "x11vnc-tight": X11vnc(tight=True),
        "Xvnc": Xvnc(),
        "Xvnc-tight": Xvnc(tight=True),
        "fernwartung": Fernwartung(),
    }
    ready: list[System] = []
    problems: list[str] = []
    for name in names:
        system = known[name]
        try:
            system.check_installed()
        except MissingTool as error:
            problems.append(f"{name}: {error}")
        else:
            ready.append(system)
    return ready, problems


# Column order of the table; the Tight variants only run when asked for (--systems).
SYSTEM_NAMES = ("x11vnc", "x11vnc-tight", "Xvnc", "Xvnc-tight", "fernwartung")
DEFAULT_SYSTEMS = ("x11vnc", "Xvnc", "fernwartung")
