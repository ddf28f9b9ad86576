"""Latency from a change on the host's X screen to its arrival in the viewer.

Everything is real: Xvfb at 1920x1080, the relay as a process with TLS on loopback, the
host agent as a process capturing that screen, and the viewer's client in this process.
On the host's screen a "terminal" (a Tk text widget in a monospace font) is typed into
with xdotool at 10 characters/s, while a 64x64 square in its corner changes colour every
200-400 ms. The square's program reports when each colour reached the X server (after a
round trip to it); the viewer notes when the frame update showing the new colour arrived
(`recv_ts`, as in --stats) and when it was applied to the framebuffer.

    python benchmarks/latency.py [--seconds 20] [--json]

Prints p50/p95 of change -> arrival (and change -> applied), frames and bytes received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

from protocol.codes import parse_code  # noqa: E402
from tests.conftest import start_xvfb, stop_process  # noqa: E402
from tests.support.relay import (  # noqa: E402
    add_technician,
    start_relay_process,
    stop_relay_process,
)
from tests.viewer.processes import LineReader, host_process, python_env  # noqa: E402
from viewer.client import ClientSettings, FrameApplied, ViewerClient, ViewerEvent  # noqa: E402
from viewer.stats import percentile  # noqa: E402

SCREEN = (1920, 1080)
MARKER = (1800, 40, 64)  # x, y, side
COLOURS = [(230, 30, 30), (30, 200, 60), (40, 60, 230), (240, 200, 20), (200, 40, 200),
           (20, 200, 210), (250, 250, 250), (90, 60, 20)]  # fmt: skip
COLOUR_LEVELS = 40
SETTLE_SECONDS = 2.0
TYPING_DELAY_MS = 100

TERMINAL_SCRIPT = r"""
import random, sys, time, tkinter as tk
width, height, mx, my, side = map(int, sys.argv[1:6])
colours = [tuple(map(int, c.split(","))) for c in sys.argv[6].split(";")]
root = tk.Tk()
root.overrideredirect(True)
root.geometry(f"{width}x{height}+0+0")
text = tk.Text(root, bg="black", fg="#d0d0d0", insertbackground="white",
               font=("TkFixedFont", 12), highlightthickness=0)
text.place(x=0, y=0, width=width, height=height)
marker = tk.Frame(root, width=side, height=side, bg="#000000")
marker.place(x=mx, y=my)
text.insert("end", "$ ")
index = 0
def change():
    global index
    r, g, b = colours[index % len(colours)]
    marker.configure(bg=f"#{r:02x}{g:02x}{b:02x}")
    root.update_idletasks()
    root.winfo_pointerxy()  # a round trip: the X server has drawn the square
    print(f"CHANGE {index} {time.time():.6f}", flush=True)
    index += 1
    root.after(random.randint(200, 400), change)
def start(event):
    if not getattr(start, "done", False):
        start.done = True
        text.focus_force()
        print("READY", flush=True)
        root.after(200, change)
root.bind("<Visibility>", start)
root.mainloop()
"""


@dataclass(frozen=True)
class Arrival:
    colour: int
    recv_ts: float
    applied_ts: float


def _colour_index(rgb: tuple[int, int, int]) -> int | None:
    for index, colour in enumerate(COLOURS):
        if all(abs(a - b) <= COLOUR_LEVELS for a, b in zip(rgb, colour, strict=True)):
            return index
    return None


async def _view(settings: ClientSettings, seconds: float, arrivals: list[Arrival],
                started: threading.Event) -> dict[str, float]:  # fmt: skip
    totals = {"frames": 0, "bytes": 0}
    current: list[int | None] = [None]
    client: ViewerClient

    def on_event(event: ViewerEvent) -> None:
        if not isinstance(event, FrameApplied):
            return
        started.set()
        totals["frames"] += 1
        totals["bytes"] += event.stat.bytes
        centre = (MARKER[0] + MARKER[2] // 2, MARKER[1] + MARKER[2] // 2)
        pixel = client.framebuffer.pixel(*centre)
        colour = _colour_index(pixel) if pixel is not None else None
        if colour is not None and colour != current[0]:
            current[0] = colour
            arrivals.append(Arrival(colour, event.stat.recv_ts, time.time()))

    client = ViewerClient(settings, on_event=on_event)
    outcome = await client.run()
    if outcome.status != 0:
        raise RuntimeError(outcome.message)
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    xvfb, display = start_xvfb(*SCREEN)
    workdir = Path(tempfile.mkdtemp(prefix="fernwartung-latency-"))
    relay, url, fingerprint = start_relay_process(workdir / "relay")
    colours = ";".join(",".join(map(str, c)) for c in COLOURS)
    terminal = subprocess.Popen(
        [sys.executable, "-c", TERMINAL_SCRIPT, *map(str, SCREEN), *map(str, MARKER), colours],
        stdout=subprocess.PIPE, text=True, env=python_env(display.env()),
    )  # fmt: skip
    typist: subprocess.Popen[bytes] | None = None
    changes: dict[int, float] = {}
    try:
        assert terminal.stdout is not None
        lines = LineReader(terminal).start(terminal.stdout)
        lines.wait_for(lambda line: line == "READY")
        token = add_technician(workdir / "relay", "Benchmark")
        with host_process(url, fingerprint, display.env()) as host:
            code = parse_code(host.code())
            limit = options.seconds + SETTLE_SECONDS
            settings = ClientSettings(url, code, token, fingerprint, end_after_seconds=limit)
            arrivals: list[Arrival] = []
            started = threading.Event()
            result: dict[str, object] = {}

            def run_viewer() -> None:
                try:
                    result["totals"] = asyncio.run(
                        _view(settings, options.seconds, arrivals, started)
                    )
                except Exception as error:  # noqa: BLE001 - reported below
                    result["error"] = error

            viewer = threading.Thread(target=run_viewer)
            viewer.start()
            host.answer("v")
            if not started.wait(30):
                raise RuntimeError("no frame arrived")
            text = " ".join(random.choice(["ls -la", "make", "git status", "echo hallo"])
                            for _ in range(int(options.seconds * 3)))  # fmt: skip
            typist = subprocess.Popen(
                ["xdotool", "type", "--delay", str(TYPING_DELAY_MS), text], env=display.env()
            )
            viewer.join(options.seconds + 60)
            if "error" in result:
                raise RuntimeError(f"viewer: {result['error']}")
        for line in lines.lines + _drain(lines):
            words = line.split()
            if len(words) == 3 and words[0] == "CHANGE":
                changes[int(words[1])] = float(words[2])
    finally:
        if typist is not None:
            stop_process(typist)
        stop_process(terminal)  # type: ignore[arg-type]
        stop_relay_process(relay)
        stop_process(xvfb)
    report = _report(changes, arrivals, result.get("totals", {}), options.seconds)  # type: ignore[arg-type]
    if options.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>28}: {value}")
    return 0


def _drain(reader: LineReader) -> list[str]:
    with contextlib.suppress(TimeoutError, EOFError):
        reader.wait_for(lambda line: False, timeout=1.0)
    return []


def _report(changes: dict[int, float], arrivals: list[Arrival], totals: dict[str, float],
            seconds: float) -> dict[str, object]:  # fmt: skip
    to_arrival: list[float] = []
    to_applied: list[float] = []
    for arrival in arrivals:
        candidates = [
            (t, i) for i, t in changes.items()
            if i % len(COLOURS) == arrival.colour and t <= arrival.recv_ts + 0.005
        ]  # fmt: skip
        if not candidates:
            continue  # the colour the square had before the first change
        changed_at, _ = max(candidates)
        to_arrival.append((arrival.recv_ts - changed_at) * 1000)
        to_applied.append((arrival.applied_ts - changed_at) * 1000)
    report: dict[str, object] = {
        "screen": f"{SCREEN[0]}x{SCREEN[1]}",
        "changes": len(changes),
        "changes_seen": len(to_arrival),
        "frames": totals.get("frames", 0),
        "kbytes_per_second": round(totals.get("bytes", 0) / 1024 / (seconds + SETTLE_SECONDS), 1),
    }
    if to_arrival:
        report.update(
            latency_p50_ms=round(percentile(to_arrival, 0.5), 1),
            latency_p95_ms=round(percentile(to_arrival, 0.95), 1),
            latency_max_ms=round(max(to_arrival), 1),
            applied_p50_ms=round(percentile(to_applied, 0.5), 1),
            applied_p95_ms=round(percentile(to_applied, 0.95), 1),
        )
    return report


if __name__ == "__main__":
    sys.exit(main())
