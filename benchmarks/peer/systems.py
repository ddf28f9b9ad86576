"""The systems under test, each behind the same small interface.

A system owns its display (Xvfb, or Xvnc which is the X server itself), then serves that
display to a client that counts what arrives. `Attached` says where the records go and
which processes' CPU time is the system's.
"""

from __future__ import annotations

import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from benchmarks.shaper import Line, ShaperThread

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
from .records import Capture, WireChunk
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
    shaper: ShaperThread | None = None  # the customer's line, when one is given
    host_is_target: bool = False  # the shaper's target is the host's side (a VNC server)

    def all_cpu_pids(self) -> dict[str, int]:
        return {**self.cpu_pids, **self.extra_cpu_pids}

    def link_figures(self) -> dict:
        """The fullest the line's queues were (up: from the host), for the JSON file."""
        if self.shaper is None or not self.shaper.queues:
            return {}
        toward, back = self.shaper.queues[-1]
        up, down = (back, toward) if self.host_is_target else (toward, back)
        return {"link_up_most_queued_bytes": up.most_queued_bytes,
                "link_down_most_queued_bytes": down.most_queued_bytes}  # fmt: skip


class System(Protocol):
    name: str
    description: str

    def check_installed(self) -> None:
        """Raise MissingTool naming the package when something is missing."""

    def start_display(self, stack: ExitStack) -> Display: ...

    def attach(
        self, display: Display, stack: ExitStack, workdir: Path, line: Line | None
    ) -> Attached:
        """Start serving `display` and the counting client, across `line` (the customer's
        line, between the host's side and the rest; None: loopback); return once the first
        update arrived. Everything started is registered on `stack` to be stopped."""


def start_xvfb(stack: ExitStack) -> Display:
    process, name = start_x_server(XVFB_COMMAND, "Xvfb")
    stack.enter_context(running(process))
    return Display(name, process)


def start_shaper(
    stack: ExitStack, line: Line, target_port: int, host_is_target: bool, capture: Capture
) -> ShaperThread:
    """A shaper of `line` to `target_port`, stopped with `stack`; what crosses the line from
    the host's side (the target's when `host_is_target`) is logged in `capture.line_up`."""

    def arrived(toward_target: bool, size: int) -> None:
        if toward_target != host_is_target:
            capture.line_up.append(WireChunk(time.time(), size, 0))

    to_target, from_target = (line.down, line.up) if host_is_target else (line.up, line.down)
    shaper = ShaperThread(target_port, to_target, from_target, arrived)
    stack.callback(shaper.close)
    return shaper


def _attach_counting_viewer(
    port: int, encodings: tuple[int, ...], stack: ExitStack, line: Line | None
) -> tuple[Capture, ShaperThread | None]:
    """The counting client, across `line` when given: the VNC server is on the customer's
    side, so what it sends crosses the line's uplink."""
    shaper = None
    capture = Capture()
    if line is not None:
        shaper = start_shaper(stack, line, port, True, capture)
        port = shaper.port
    viewer = CountingViewer(port, capture, encodings)
    stack.callback(viewer.close)
    viewer.wait_first_update()
    return capture, shaper


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

    def attach(
        self, display: Display, stack: ExitStack, workdir: Path, line: Line | None
    ) -> Attached:
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
        capture, shaper = _attach_counting_viewer(port, self.encodings, stack, line)
        return Attached(
            capture, {"server": server.pid, "x_server": display.process.pid}, shaper=shaper,
            host_is_target=True,
        )  # fmt: skip


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

    def attach(
        self, display: Display, stack: ExitStack, workdir: Path, line: Line | None
    ) -> Attached:
        assert display.rfb_port is not None
        wait_for_port(display.rfb_port, display.process, "Xvnc")
        capture, shaper = _attach_counting_viewer(display.rfb_port, self.encodings, stack, line)
        return Attached(
            capture, {"server": display.process.pid}, shaper=shaper, host_is_target=True
        )


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
